#!/usr/bin/env Rscript
# Generates tests/reference/data/weighting_reference.json: reference values for
# impacteval.matching.weighting.entropy_balance and impacteval.diagnostics.sensitivity.
#
#   * ebal::ebalance (ebal 0.1-8)      entropy-balancing ATT weights on lalonde_psid,
#                                       moments 1 and 2 (squares via ebal::getsquares)
#   * rbounds::psens (rbounds 2.2)      Rosenbaum bounds, Wilcoxon signed rank, on a
#                                       deterministic matched-pair example built below
#   * EValue evalues.RR/OR/HR/MD (EValue 4.1.4)
#   * stacked M-estimation standard errors written out in base R (glm for the logit,
#     numDeriv::jacobian for the bread): IPW (ATE/ATT, Hajek/Horvitz-Thompson) on nsw_dw,
#     and the entropy-balancing ATT on lalonde_psid at ebal's solution. PSweight and
#     WeightIt (which compute these sandwiches) need packages Debian does not have.
#
# None of ebal, rbounds, EValue (nor WeightIt) is packaged in Debian bookworm. The values
# were generated with those packages' released sources (the versions above) made available
# to R outside this repository: ebal and rbounds as installed libraries, and EValue's own R
# functions loaded from its source tree (its MetaUtility import is not available). By
# project policy no third-party code, build script or build recipe is kept here: only this
# generator and the values it wrote. EVALUE_SRC names the folder of EValue's R sources.
#
# Usage (from the repository root):
#   R_LIBS=/tmp/rlib EVALUE_SRC=/path/to/EValue Rscript tests/reference/r/generate_weighting.R
# Optional arguments: DATA_DIR (holding lalonde_psid.csv; default data/sample, then
# ../shared/data) and OUT_JSON (default tests/reference/data/weighting_reference.json).

suppressPackageStartupMessages({
  library(jsonlite)
  library(ebal)
  library(rbounds)
  library(numDeriv)
})

get_repo_root <- function() {
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(f) == 1 && nzchar(f)) {
    return(normalizePath(file.path(dirname(f), "..", "..", "..")))
  }
  normalizePath(".")
}
repo_root <- get_repo_root()
targs <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(targs) >= 1) targs[1] else file.path(repo_root, "data", "sample")
if (!file.exists(file.path(data_dir, "lalonde_psid.csv"))) {
  data_dir <- file.path(repo_root, "..", "shared", "data")
}
out_json <- if (length(targs) >= 2) targs[2] else
  file.path(repo_root, "tests", "reference", "data", "weighting_reference.json")

evalue_src <- Sys.getenv("EVALUE_SRC")
if (!nzchar(evalue_src)) stop("set EVALUE_SRC to an EValue 4.1.4 source tree")
ev <- new.env()
for (f in c("utils.R", "effect_measures.R", "EValue.R")) {
  sys.source(file.path(evalue_src, "R", f), envir = ev)
}
evalue_version <- read.dcf(file.path(evalue_src, "DESCRIPTION"), fields = "Version")[1, 1]

# ---- entropy balancing (ATT) on lalonde_psid ----------------------------------------
psid <- read.csv(file.path(data_dir, "lalonde_psid.csv"))
covs <- c("age", "educ", "black", "hisp", "married", "nodegree", "re74", "re75")
ebal_case <- function(moments) {
  X <- as.matrix(psid[, covs])
  if (moments == 2) X <- getsquares(X)
  # standardising the columns leaves the solution unchanged and lets a tight tolerance be
  # met (ebalance's tolerance is on the weighted column totals)
  Xs <- scale(X)
  fit <- ebalance(Treatment = psid$treat, X = Xs, max.iterations = 500,
                  constraint.tolerance = 1e-9, print.level = -1)
  w <- fit$w  # control weights, summing to the number treated
  y1 <- psid$re78[psid$treat == 1]
  y0 <- psid$re78[psid$treat == 0]
  list(
    moments = moments,
    features = colnames(X),
    converged = fit$converged,
    maxdiff = fit$maxdiff,
    control_ids = psid$id[psid$treat == 0],
    control_weights = w,
    weighted_means = as.numeric(colSums(w * X[psid$treat == 0, , drop = FALSE]) / sum(w)),
    treated_means = as.numeric(colMeans(X[psid$treat == 1, , drop = FALSE])),
    ess = sum(w)^2 / sum(w^2),
    max_weight = max(w),
    att = mean(y1) - sum(w * y0) / sum(w)
  )
}
ebal_cases <- list(ebal_case(1), ebal_case(2))

# ---- Rosenbaum bounds: a deterministic matched-pair example -------------------------
# 40 pairs; differences (i * 37 mod 23) - 7 include zeros (dropped) and ties (average
# ranks), as the Wilcoxon signed-rank statistic requires handling both.
i <- 1:40
control <- 100 + (i * 13) %% 17
treated <- control + ((i * 37) %% 23) - 7
ps <- psens(treated, control, Gamma = 4, GammaInc = 0.25)
# second example: no ties beyond zero, smaller effect
j <- 1:25
control2 <- 20 + ((j * 7) %% 11) / 2
treated2 <- control2 + sin(j) * 3 + 1.2
ps2 <- psens(treated2, control2, Gamma = 3, GammaInc = 0.1)

rb_case <- function(t, c, ps) {
  list(treated = t, control = c, gamma = ps$bounds$Gamma,
       p_lower = ps$bounds[["Lower bound"]], p_upper = ps$bounds[["Upper bound"]])
}

# ---- E-values ----------------------------------------------------------------------
ev_rows <- list()
ev_add <- function(fun, args, scale, rare = NULL, se = NULL) {
  out <- do.call(get(fun, envir = ev), args)
  vals <- unclass(out)
  ev_rows[[length(ev_rows) + 1]] <<- list(
    call = paste0(fun, "(", paste(names(args), unlist(args), sep = "=", collapse = ", "), ")"),
    scale = scale, rare = rare, se = se,
    estimate = args$est,
    lo = if (is.null(args$lo)) NA else args$lo,
    hi = if (is.null(args$hi)) NA else args$hi,
    rr = as.numeric(vals[1, ]), evalue = as.numeric(vals[2, ])
  )
}
ev_add("evalues.RR", list(est = 3.9, lo = 1.8, hi = 8.7), "RR")
ev_add("evalues.RR", list(est = 0.80, lo = 0.71, hi = 0.91), "RR")
ev_add("evalues.RR", list(est = 0.80), "RR")
ev_add("evalues.RR", list(est = 1.25, lo = 0.9, hi = 1.7), "RR")
ev_add("evalues.OR", list(est = 0.86, lo = 0.75, hi = 0.99, rare = FALSE), "OR", rare = FALSE)
ev_add("evalues.OR", list(est = 3, lo = 1.5, hi = 6, rare = TRUE), "OR", rare = TRUE)
ev_add("evalues.OR", list(est = 2.5, lo = 1.4, hi = 4.4, rare = FALSE), "OR", rare = FALSE)
ev_add("evalues.HR", list(est = 0.56, lo = 0.46, hi = 0.69, rare = FALSE), "HR", rare = FALSE)
ev_add("evalues.HR", list(est = 2.0, lo = 1.3, hi = 3.1, rare = TRUE), "HR", rare = TRUE)
ev_add("evalues.HR", list(est = 1.8, lo = 1.2, hi = 2.7, rare = FALSE), "HR", rare = FALSE)
ev_add("evalues.MD", list(est = 0.5, se = 0.25), "SMD", se = 0.25)
ev_add("evalues.MD", list(est = -0.3, se = 0.1), "SMD", se = 0.1)

# ---- M-estimation sandwiches (base R + numDeriv) --------------------------------------
sandwich_se <- function(psi_fun, theta) {
  psi <- psi_fun(theta)
  n <- nrow(psi)
  A <- numDeriv::jacobian(function(th) colMeans(psi_fun(th)), theta)
  B <- crossprod(psi) / n
  Ai <- solve(A)
  V <- Ai %*% B %*% t(Ai) / n
  k <- length(theta)
  cvec <- c(rep(0, k - 2), 1, -1)
  sqrt(drop(t(cvec) %*% V %*% cvec))
}
nsw_file <- file.path(data_dir, "nsw_dw.csv")
if (!file.exists(nsw_file)) nsw_file <- file.path(repo_root, "..", "shared", "data", "nsw_dw.csv")
nsw <- read.csv(nsw_file)
ipw_cases <- list()
for (estimand in c("ATE", "ATT")) for (normalize in c(TRUE, FALSE)) {
  X <- cbind(1, as.matrix(nsw[, covs]))
  z <- nsw$treat
  y <- nsw$re78
  fit <- glm(z ~ X - 1, family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
  beta <- unname(coef(fit))
  p <- length(beta)
  psi_fun <- function(th) {
    b <- th[1:p]; mu1 <- th[p + 1]; mu0 <- th[p + 2]
    e <- plogis(drop(X %*% b))
    if (estimand == "ATE" && normalize) {
      f1 <- z * (y - mu1) / e; f0 <- (1 - z) * (y - mu0) / (1 - e)
    } else if (estimand == "ATE") {
      f1 <- z * y / e - mu1; f0 <- (1 - z) * y / (1 - e) - mu0
    } else if (normalize) {
      f1 <- z * (y - mu1); f0 <- (1 - z) * e / (1 - e) * (y - mu0)
    } else {
      f1 <- z * (y - mu1); f0 <- (1 - z) * e / (1 - e) * y - z * mu0
    }
    cbind(X * (z - e), f1, f0)
  }
  e <- plogis(drop(X %*% beta))
  if (estimand == "ATE") {
    w1 <- z / e; w0 <- (1 - z) / (1 - e)
    d1 <- if (normalize) sum(w1) else length(y); d0 <- if (normalize) sum(w0) else length(y)
  } else {
    w1 <- z; w0 <- (1 - z) * e / (1 - e)
    d1 <- sum(z); d0 <- if (normalize) sum(w0) else sum(z)
  }
  mu1 <- sum(w1 * y) / d1; mu0 <- sum(w0 * y) / d0
  ipw_cases[[length(ipw_cases) + 1]] <- list(
    data = "nsw_dw", covariates = covs, estimand = estimand, normalize = normalize,
    estimate = mu1 - mu0, std_error = sandwich_se(psi_fun, c(beta, mu1, mu0)),
    ps_coefficients = beta
  )
}
# entropy balancing ATT (moments = 1) at ebal's solution: weights exp(Xs %*% lam)
Xs <- scale(as.matrix(psid[, covs]))
zz <- psid$treat
yy <- psid$re78
fit1 <- ebalance(Treatment = zz, X = Xs, max.iterations = 500, constraint.tolerance = 1e-9,
                 print.level = -1)
lam <- fit1$coefs[-1]
k <- ncol(Xs)
s0 <- mean(exp(Xs[zz == 0, ] %*% lam))
ebal_psi <- function(th) {
  m <- th[1:k]; la <- th[(k + 1):(2 * k)]; mu1 <- th[2 * k + 1]; mu0 <- th[2 * k + 2]
  s <- (1 - zz) * drop(exp(Xs %*% la)) / s0
  dev <- sweep(Xs, 2, m)
  cbind(zz * dev, s * dev, zz * (yy - mu1), s * (yy - mu0))
}
w_ctrl <- drop(exp(Xs[zz == 0, ] %*% lam))
theta_eb <- c(colMeans(Xs[zz == 1, ]), lam, mean(yy[zz == 1]), sum(w_ctrl * yy[zz == 0]) / sum(w_ctrl))
ebal_se <- list(data = "lalonde_psid", covariates = covs, moments = 1,
                estimate = theta_eb[2 * k + 1] - theta_eb[2 * k + 2],
                std_error = sandwich_se(ebal_psi, theta_eb),
                max_abs_mean_score = max(abs(colMeans(ebal_psi(theta_eb)))))

out <- list(
  versions = list(
    R = R.version.string,
    ebal = as.character(packageVersion("ebal")),
    rbounds = as.character(packageVersion("rbounds")),
    EValue = evalue_version,
    jsonlite = as.character(packageVersion("jsonlite")),
    numDeriv = as.character(packageVersion("numDeriv"))
  ),
  source = "tests/reference/r/generate_weighting.R",
  ebal_att_lalonde_psid = ebal_cases,
  psens = list(rb_case(treated, control, ps), rb_case(treated2, control2, ps2)),
  evalues = ev_rows,
  ipw_mestimation_nsw_dw = ipw_cases,
  ebal_mestimation_lalonde_psid = ebal_se
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), out_json)
cat("wrote", out_json, "\n")
