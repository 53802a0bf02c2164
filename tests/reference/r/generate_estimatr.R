#!/usr/bin/env Rscript
# Generates tests/reference/data/estimatr_reference.json: reference values from
# R's estimatr (difference_in_means, lm_robust, lm_lin), cross-checked against
# clubSandwich for CR2 and against hand-coded formulas (see ESTIMATR_FORMULAS.md).
#
# Usage (from anywhere):
#   Rscript tests/reference/r/generate_estimatr.R [DATA_DIR] [OUT_JSON]
# DATA_DIR: directory holding nsw_dw.csv.  Default: <repo>/data/sample, falling
#           back to <repo>/../shared/data when nsw_dw.csv is not there.
# OUT_JSON: default <repo>/tests/reference/data/estimatr_reference.json
# The synthetic CSVs are always read from <repo>/tests/reference/data
# (create them first with make_sim_data.R).

suppressPackageStartupMessages({
  library(estimatr)
  library(clubSandwich)
  library(sandwich)
  library(jsonlite)
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

if (length(targs) >= 1 && nzchar(targs[1])) {
  data_dir <- normalizePath(targs[1], mustWork = TRUE)
} else {
  candidates <- c(file.path(repo_root, "data", "sample"),
                  file.path(repo_root, "..", "shared", "data"))
  ok <- file.exists(file.path(candidates, "nsw_dw.csv"))
  if (!any(ok)) stop("nsw_dw.csv not found in: ", paste(candidates, collapse = ", "))
  data_dir <- normalizePath(candidates[which(ok)[1]])
}
out_json <- if (length(targs) >= 2) targs[2] else
  file.path(repo_root, "tests", "reference", "data", "estimatr_reference.json")
ref_dir <- file.path(repo_root, "tests", "reference", "data")

read_double <- function(path) {
  d <- read.csv(path, stringsAsFactors = FALSE)
  d[] <- lapply(d, as.double)  # cast everything to double
  d
}
files <- c(nsw_dw = file.path(data_dir, "nsw_dw.csv"),
           sim_trial = file.path(ref_dir, "sim_trial.csv"),
           sim_pairs = file.path(ref_dir, "sim_pairs.csv"),
           sim_cluster_pairs = file.path(ref_dir, "sim_cluster_pairs.csv"))
env <- new.env()
for (nm in names(files)) assign(nm, read_double(files[[nm]]), envir = env)
datasets <- lapply(names(files), function(nm) list(
  name = nm, file = basename(files[[nm]]), nrow = nrow(get(nm, env)),
  md5 = unname(tools::md5sum(files[[nm]]))))

ev <- function(txt) eval(parse(text = txt), envir = env)
num <- function(x) if (is.null(x)) NULL else unname(as.vector(x))

tidy_rows <- function(fit) {
  td <- tidy(fit, conf.int = TRUE, conf.level = 0.95)
  lapply(seq_len(nrow(td)), function(i) list(
    term = td$term[i], estimate = td$estimate[i], std.error = td$std.error[i],
    statistic = td$statistic[i], p.value = td$p.value[i],
    conf.low = td$conf.low[i], conf.high = td$conf.high[i], df = td$df[i]))
}

rel_diff <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-300))

warnings_seen <- character(0)
fit_quiet <- function(txt) {
  w <- character(0)
  fit <- withCallingHandlers(ev(txt), warning = function(cnd) {
    w <<- c(w, conditionMessage(cnd)); invokeRestart("muffleWarning")
  }, message = function(cnd) invokeRestart("muffleMessage"))
  attr(fit, "captured_warnings") <- w
  fit
}

# clubSandwich CR2 cross-check.  `lm_txt` is an lm() call whose coefficient
# order matches the estimatr fit on the first length(terms) columns
# (positionally), `cluster_txt` evaluates to the cluster vector.
clubsandwich_check <- function(fit, lm_txt, cluster_txt, terms_to_check) {
  lfit <- ev(lm_txt)
  V <- vcovCR(lfit, cluster = ev(cluster_txt), type = "CR2")
  ct <- coef_test(lfit, vcov = V, test = "Satterthwaite")
  td <- tidy(fit)
  rows <- lapply(terms_to_check, function(tm) {
    i_est <- match(tm$estimatr, td$term)
    i_cs <- match(tm$lm, rownames(V))
    se_cs <- sqrt(V[i_cs, i_cs])
    df_cs <- ct$df_Satt[i_cs]
    list(term = tm$estimatr, lm_term = tm$lm,
         estimate_estimatr = td$estimate[i_est],
         estimate_lm = unname(coef(lfit)[i_cs]),
         se_estimatr = td$std.error[i_est], se_clubSandwich = se_cs,
         df_estimatr = td$df[i_est], df_Satterthwaite_clubSandwich = df_cs,
         p_Satterthwaite_clubSandwich = ct$p_Satt[i_cs],
         se_rel_diff = abs(td$std.error[i_est] - se_cs) / se_cs,
         df_rel_diff = abs(td$df[i_est] - df_cs) / df_cs)
  })
  agree <- all(vapply(rows, function(r) r$se_rel_diff < 1e-8 && r$df_rel_diff < 1e-8 &&
                        abs(r$estimate_estimatr - r$estimate_lm) <= 1e-8 * abs(r$estimate_lm), TRUE))
  list(lm_call = lm_txt, cluster = cluster_txt,
       vcovCR = "clubSandwich::vcovCR(lm_fit, cluster = cluster, type = 'CR2')",
       coef_test = "clubSandwich::coef_test(lm_fit, vcov = V, test = 'Satterthwaite')",
       terms = rows, agrees_with_estimatr = agree, agreement_tolerance = 1e-8)
}

cases <- list()
add_case <- function(id, estimator, call_txt, dataset, cs = NULL, notes = NULL,
                     vcov = TRUE) {
  fit <- fit_quiet(call_txt)
  out <- list(id = id, estimator = estimator, call = call_txt,
              dataset = basename(files[[dataset]]), dataset_name = dataset,
              conf_level = 0.95,
              nobs = num(fit$nobs))
  if (estimator == "difference_in_means") {
    out$design <- fit$design
    out$df <- num(fit$df)
    out$nblocks <- num(fit$nblocks)
    out$nclusters <- num(fit$nclusters)
  } else {
    out$se_type <- fit$se_type
    out$nclusters <- num(fit$nclusters)
    out$rank <- num(fit$rank)
    out$k <- num(fit$k)
    out$df.residual <- num(fit$df.residual)
    out$weighted <- fit$weighted
    out$fixed_effects <- fit$fes
    if (!is.null(fit$scaled_center)) {
      out$lin_center <- as.list(fit$scaled_center)
    }
    if (vcov && !is.null(fit$vcov)) {
      out$vcov <- list(terms = rownames(fit$vcov),
                       matrix = unname(lapply(seq_len(nrow(fit$vcov)),
                                              function(i) unname(fit$vcov[i, ]))))
    }
  }
  out$coefficients <- tidy_rows(fit)
  if (length(attr(fit, "captured_warnings"))) out$r_warnings <- attr(fit, "captured_warnings")
  if (!is.null(cs)) out$clubSandwich <- do.call(clubsandwich_check, c(list(fit = fit), cs))
  if (!is.null(notes)) out$notes <- notes
  cases[[id]] <<- out
  invisible(fit)
}
T1 <- function(est, lm = est) list(estimatr = est, lm = lm)

## ============================================================ difference_in_means
add_case("dim_nsw_plain", "difference_in_means",
         "difference_in_means(re78 ~ treat, data = nsw_dw)", "nsw_dw")
add_case("dim_trial_blocks", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_trial, blocks = block)", "sim_trial")
add_case("dim_trial_clusters", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_trial, clusters = cluster)", "sim_trial",
         cs = list(lm_txt = "lm(y ~ z, data = sim_trial)", cluster_txt = "sim_trial$cluster",
                   terms_to_check = list(T1("z"))))
add_case("dim_trial_blocks_clusters", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_trial, blocks = block, clusters = cluster)",
         "sim_trial")
add_case("dim_trial_weights", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_trial, weights = w)", "sim_trial",
         notes = "weights, no blocks/clusters: lm_robust HC2 (weighted) on [1, z]")
add_case("dim_trial_blocks_weights", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_trial, blocks = block, weights = w)", "sim_trial")
add_case("dim_trial_clusters_weights", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_trial, clusters = cluster, weights = w)", "sim_trial",
         cs = list(lm_txt = "lm(y ~ z, data = sim_trial, weights = w)", cluster_txt = "sim_trial$cluster",
                   terms_to_check = list(T1("z"))))
add_case("dim_pairs", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_pairs, blocks = pair)", "sim_pairs")
add_case("dim_pairs_mixed_blocks", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_pairs, blocks = block_mixed)", "sim_pairs",
         notes = "30 blocks are pairs, 5 blocks have 4 units: estimatr warns and uses the matched-pair variance")
add_case("dim_cluster_pairs", "difference_in_means",
         "difference_in_means(y ~ z, data = sim_cluster_pairs, blocks = pair, clusters = cluster)",
         "sim_cluster_pairs")

## ==================================================================== lm_robust
for (se in c("classical", "HC0", "HC1", "HC2", "HC3")) {
  add_case(paste0("lmr_nsw_simple_", se), "lm_robust",
           sprintf("lm_robust(re78 ~ treat, data = nsw_dw, se_type = \"%s\")", se), "nsw_dw")
}
for (se in c("classical", "HC0", "HC1", "HC2", "HC3")) {
  add_case(paste0("lmr_nsw_full_", se), "lm_robust",
           sprintf(paste0("lm_robust(re78 ~ treat + age + I(age^2) + educ + nodegree + black + ",
                          "hisp + re74 + re75, data = nsw_dw, se_type = \"%s\")"), se), "nsw_dw")
}
cs_trial_terms <- list(T1("(Intercept)"), T1("z"), T1("x1"), T1("x2"))
for (se in c("CR0", "stata", "CR2")) {
  add_case(paste0("lmr_trial_cl_", se), "lm_robust",
           sprintf("lm_robust(y ~ z + x1 + x2, data = sim_trial, clusters = cluster, se_type = \"%s\")", se),
           "sim_trial",
           cs = if (se == "CR2") list(lm_txt = "lm(y ~ z + x1 + x2, data = sim_trial)",
                                      cluster_txt = "sim_trial$cluster",
                                      terms_to_check = cs_trial_terms))
}
for (se in c("HC1", "HC2")) {
  add_case(paste0("lmr_trial_w_", se), "lm_robust",
           sprintf("lm_robust(y ~ z + x1 + x2, data = sim_trial, weights = w, se_type = \"%s\")", se),
           "sim_trial")
}
add_case("lmr_trial_w_cl_CR2", "lm_robust",
         "lm_robust(y ~ z + x1 + x2, data = sim_trial, weights = w, clusters = cluster, se_type = \"CR2\")",
         "sim_trial",
         cs = list(lm_txt = "lm(y ~ z + x1 + x2, data = sim_trial, weights = w)",
                   cluster_txt = "sim_trial$cluster", terms_to_check = cs_trial_terms))
add_case("lmr_trial_w_cl_stata", "lm_robust",
         "lm_robust(y ~ z + x1 + x2, data = sim_trial, weights = w, clusters = cluster, se_type = \"stata\")",
         "sim_trial")
# fixed effects (estimatr does not report FE coefficients; z, x1, x2 are recorded)
cs_fe_terms <- list(T1("z"), T1("x1"), T1("x2"))
add_case("lmr_trial_fe_HC1", "lm_robust",
         "lm_robust(y ~ z + x1 + x2, data = sim_trial, fixed_effects = ~block, se_type = \"HC1\")",
         "sim_trial")
add_case("lmr_trial_fe_HC2", "lm_robust",
         "lm_robust(y ~ z + x1 + x2, data = sim_trial, fixed_effects = ~block, se_type = \"HC2\")",
         "sim_trial")
add_case("lmr_trial_fe_cl_CR2", "lm_robust",
         "lm_robust(y ~ z + x1 + x2, data = sim_trial, fixed_effects = ~block, clusters = cluster, se_type = \"CR2\")",
         "sim_trial",
         cs = list(lm_txt = "lm(y ~ z + x1 + x2 + factor(block), data = sim_trial)",
                   cluster_txt = "sim_trial$cluster", terms_to_check = cs_fe_terms))
add_case("lmr_trial_fe_cl_stata", "lm_robust",
         "lm_robust(y ~ z + x1 + x2, data = sim_trial, fixed_effects = ~block, clusters = cluster, se_type = \"stata\")",
         "sim_trial")
add_case("lmr_trial_fe_w_HC2", "lm_robust",
         "lm_robust(y ~ z + x1 + x2, data = sim_trial, fixed_effects = ~block, weights = w, se_type = \"HC2\")",
         "sim_trial")
# collinear design: which column estimatr drops
add_case("lmr_trial_collinear_HC2", "lm_robust",
         "lm_robust(y ~ z + x1 + x2 + I(x1 + x2), data = sim_trial, se_type = \"HC2\")",
         "sim_trial",
         notes = paste("I(x1 + x2) = x1 + x2 exactly: estimatr's pivoted QR drops x1 (NA row),",
                       "not the last column as stats::lm would"))

## ======================================================================= lm_lin
add_case("lin_nsw_HC2", "lm_lin",
         "lm_lin(re78 ~ treat, covariates = ~ age + educ + re74 + re75, data = nsw_dw, se_type = \"HC2\")",
         "nsw_dw")
add_case("lin_trial_cl_CR2", "lm_lin",
         "lm_lin(y ~ z, covariates = ~ x1 + x2, data = sim_trial, clusters = cluster, se_type = \"CR2\")",
         "sim_trial",
         cs = list(lm_txt = paste0("lm(y ~ z + x1c + x2c + z:x1c + z:x2c, data = transform(sim_trial, ",
                                   "x1c = x1 - mean(x1), x2c = x2 - mean(x2)))"),
                   cluster_txt = "sim_trial$cluster",
                   terms_to_check = list(T1("(Intercept)"), T1("z"), T1("x1_c", "x1c"), T1("x2_c", "x2c"),
                                         T1("z:x1_c", "z:x1c"), T1("z:x2_c", "z:x2c"))))
add_case("lin_trial_w_HC2", "lm_lin",
         "lm_lin(y ~ z, covariates = ~ x1 + x2, data = sim_trial, weights = w, se_type = \"HC2\")",
         "sim_trial")

## ======================================================= hand-coded formula checks
# Independent re-implementations of the formulas in ESTIMATR_FORMULAS.md; each
# check stores estimatr's value, the hand value and their relative difference.
checks <- list()
chk <- function(name, estimatr_value, manual_value) {
  checks[[length(checks) + 1]] <<- list(name = name, estimatr = num(estimatr_value),
                                        manual = num(manual_value),
                                        rel_diff = rel_diff(num(manual_value), num(estimatr_value)))
}
with(env, {
  # --- plain Neyman / Welch
  y1 <- nsw_dw$re78[nsw_dw$treat == 1]; y0 <- nsw_dw$re78[nsw_dw$treat == 0]
  v1 <- var(y1) / length(y1); v0 <- var(y0) / length(y0)
  se <- sqrt(v1 + v0); df <- se^4 / (v1^2 / (length(y1) - 1) + v0^2 / (length(y0) - 1))
  f <- difference_in_means(re78 ~ treat, data = nsw_dw)
  chk("dim_plain: estimate, se, df", c(f$coefficients, f$std.error, f$df), c(mean(y1) - mean(y0), se, df))

  # --- blocked (all blocks >= 2 treated and >= 2 control)
  bl <- split(sim_trial, sim_trial$block)
  tb <- sapply(bl, function(d) mean(d$y[d$z == 1]) - mean(d$y[d$z == 0]))
  vb <- sapply(bl, function(d) var(d$y[d$z == 1]) / sum(d$z == 1) + var(d$y[d$z == 0]) / sum(d$z == 0))
  nb <- sapply(bl, nrow); N <- sum(nb); B <- length(bl)
  f <- difference_in_means(y ~ z, data = sim_trial, blocks = block)
  chk("dim_blocked: estimate, se, df", c(f$coefficients, f$std.error, f$df),
      c(sum(nb / N * tb), sqrt(sum((nb / N)^2 * vb)), N - 2 * B))

  # --- blocked + clustered: CR2 within block, df = total clusters - 2 B
  cr2b <- lapply(bl, function(d) lm_robust(y ~ z, data = d, clusters = cluster, se_type = "CR2"))
  tb2 <- sapply(cr2b, function(m) coef(m)[["z"]])
  sb2 <- sapply(cr2b, function(m) m$std.error[["z"]])
  Jb <- sapply(bl, function(d) length(unique(d$cluster)))
  f <- difference_in_means(y ~ z, data = sim_trial, blocks = block, clusters = cluster)
  chk("dim_blocked_clustered: estimate, se, df", c(f$coefficients, f$std.error, f$df),
      c(sum(nb / N * tb2), sqrt(sum((nb / N)^2 * sb2^2)), sum(Jb) - 2 * B))

  # --- blocked + weights: per-block weighted HC2, block weight = sum of (w / mean(w over all units))
  wn <- sim_trial$w / mean(sim_trial$w)
  d2 <- cbind(sim_trial, wn = wn)
  bl2 <- split(d2, d2$block)
  fits <- lapply(bl2, function(d) lm_robust(y ~ z, data = d, weights = wn, se_type = "HC2"))
  tw <- sapply(fits, function(m) coef(m)[["z"]]); sw <- sapply(fits, function(m) m$std.error[["z"]])
  nw <- sapply(bl2, function(d) sum(d$wn)); Nw <- sum(nw)
  f <- difference_in_means(y ~ z, data = sim_trial, blocks = block, weights = w)
  chk("dim_blocked_weighted: estimate, se, df, nobs", c(f$coefficients, f$std.error, f$df, f$nobs),
      c(sum(nw / Nw * tw), sqrt(sum((nw / Nw)^2 * sw^2)), nrow(sim_trial) - 2 * B, Nw))

  # --- matched pairs
  pl <- split(sim_pairs, sim_pairs$pair)
  tp <- sapply(pl, function(d) d$y[d$z == 1] - d$y[d$z == 0]); B <- length(tp)
  f <- difference_in_means(y ~ z, data = sim_pairs, blocks = pair)
  chk("dim_pairs: estimate, se, df", c(f$coefficients, f$std.error, f$df),
      c(mean(tp), sqrt(sum((tp - mean(tp))^2) / (B * (B - 1))), B - 1))

  # --- mixed: some pairs, some larger blocks
  ml <- split(sim_pairs, sim_pairs$block_mixed)
  tm <- sapply(ml, function(d) mean(d$y[d$z == 1]) - mean(d$y[d$z == 0]))
  nm <- sapply(ml, nrow); N <- sum(nm); B <- length(tm); tau <- sum(nm / N * tm)
  f <- suppressWarnings(difference_in_means(y ~ z, data = sim_pairs, blocks = block_mixed))
  chk("dim_pairs_mixed: estimate, se, df", c(f$coefficients, f$std.error, f$df),
      c(tau, sqrt(sum((tm - tau)^2) / (B * (B - 1))), B - 1))

  # --- matched pairs of clusters
  cl <- split(sim_cluster_pairs, sim_cluster_pairs$pair)
  tc <- sapply(cl, function(d) mean(d$y[d$z == 1]) - mean(d$y[d$z == 0]))
  nc <- sapply(cl, nrow); N <- sum(nc); B <- length(tc); tau <- sum(nc / N * tc)
  f <- difference_in_means(y ~ z, data = sim_cluster_pairs, blocks = pair, clusters = cluster)
  chk("dim_cluster_pairs: estimate, se, df", c(f$coefficients, f$std.error, f$df),
      c(tau, sqrt(B / ((B - 1) * N^2) * sum((nc * tc - N * tau / B)^2)), B - 1))

  # --- lm_robust weighted HC0/HC1/HC2/HC3/classical by hand
  X <- cbind(1, sim_trial$z, sim_trial$x1, sim_trial$x2); y <- sim_trial$y
  n <- nrow(X); k <- ncol(X); wt <- sim_trial$w / mean(sim_trial$w)
  M <- solve(crossprod(X, wt * X)); b <- M %*% crossprod(X, wt * y); e <- as.vector(y - X %*% b)
  h <- wt * rowSums((X %*% M) * X)
  hc <- function(om) M %*% crossprod(X, (wt^2 * om) * X) %*% M
  for (se in c("HC0", "HC1", "HC2", "HC3", "classical")) {
    V <- switch(se, HC0 = hc(e^2), HC1 = hc(e^2) * n / (n - k), HC2 = hc(e^2 / (1 - h)),
                HC3 = hc(e^2 / (1 - h)^2), classical = sum(wt * e^2) / (n - k) * M)
    f <- lm_robust(y ~ z + x1 + x2, data = sim_trial, weights = w, se_type = se)
    chk(paste0("lm_robust weighted ", se, ": se (4 terms), df"),
        c(f$std.error, f$df[1]), c(sqrt(diag(V)), n - k))
  }

  # --- CR0 / stata (weighted), df = J - 1
  J <- length(unique(sim_trial$cluster))
  meat <- Reduce(`+`, lapply(split(seq_len(n), sim_trial$cluster), function(ix) {
    s <- crossprod(X[ix, , drop = FALSE], wt[ix] * e[ix]); s %*% t(s) }))
  V0 <- M %*% meat %*% M
  f <- lm_robust(y ~ z + x1 + x2, data = sim_trial, weights = w, clusters = cluster, se_type = "CR0")
  chk("lm_robust weighted CR0: se, df", c(f$std.error, f$df[1]), c(sqrt(diag(V0)), J - 1))
  f <- lm_robust(y ~ z + x1 + x2, data = sim_trial, weights = w, clusters = cluster, se_type = "stata")
  chk("lm_robust weighted stata: se, df", c(f$std.error, f$df[1]),
      c(sqrt(diag(V0 * J * (n - 1) / ((J - 1) * (n - k)))), J - 1))

  # --- weighted CR2 (working model Theta = I) + Bell-McCaffrey df, by hand
  W <- wt; H <- X %*% M %*% t(X * W)          # H = X M X' W  (n x n)
  ImH <- diag(n) - H
  cls <- split(seq_len(n), sim_trial$cluster)
  A <- lapply(cls, function(ix) {
    Bg <- ImH[ix, , drop = FALSE] %*% t(ImH[ix, , drop = FALSE])
    ev <- eigen(Bg, symmetric = TRUE)
    ev$vectors %*% diag(ifelse(ev$values > 1e-12, 1 / sqrt(ev$values), 0), length(ix)) %*% t(ev$vectors)
  })
  Vcr2 <- M %*% Reduce(`+`, Map(function(ix, Ag) {
    s <- t(X[ix, , drop = FALSE] * W[ix]) %*% Ag %*% e[ix]; s %*% t(s) }, cls, A)) %*% M
  dfs <- sapply(seq_len(k), function(j) {
    P <- sapply(seq_along(cls), function(g) {
      ix <- cls[[g]]; u <- A[[g]] %*% (W[ix] * X[ix, , drop = FALSE]) %*% M[, j]
      as.vector(t(ImH[ix, , drop = FALSE]) %*% u)        # p_g in R^n
    })
    G <- crossprod(P); sum(diag(G))^2 / sum(G^2)
  })
  f <- lm_robust(y ~ z + x1 + x2, data = sim_trial, weights = w, clusters = cluster, se_type = "CR2")
  chk("lm_robust weighted CR2: se, df (Bell-McCaffrey, Theta = I)", c(f$std.error, f$df),
      c(sqrt(diag(Vcr2)), dfs))

  # --- fixed effects equal LSDV: HC1 (K = x_rank + G), HC2, stata
  lsdv <- lm(y ~ z + x1 + x2 + factor(block), data = sim_trial)
  G <- length(unique(sim_trial$block)); kfe <- 3 + G
  f <- lm_robust(y ~ z + x1 + x2, data = sim_trial, fixed_effects = ~block, se_type = "HC1")
  chk("FE HC1 = LSDV HC1 (z, x1, x2): se, df", c(f$std.error, f$df[1]),
      c(sqrt(diag(sandwich::vcovHC(lsdv, type = "HC1")))[2:4], n - kfe))
  f <- lm_robust(y ~ z + x1 + x2, data = sim_trial, fixed_effects = ~block, se_type = "HC2")
  chk("FE HC2 = LSDV HC2 (z, x1, x2): se, df", c(f$std.error, f$df[1]),
      c(sqrt(diag(sandwich::vcovHC(lsdv, type = "HC2")))[2:4], n - kfe))
  f <- lm_robust(y ~ z + x1 + x2, data = sim_trial, fixed_effects = ~block, clusters = cluster,
                 se_type = "stata")
  Vcl <- sandwich::vcovCL(lsdv, cluster = ~cluster, type = "HC0", cadjust = FALSE)
  chk("FE stata = LSDV CR0 * J(n-1)/((J-1)(n-K)), K = 3 + G: se, df", c(f$std.error, f$df[1]),
      c(sqrt(diag(Vcl)[2:4] * J * (n - 1) / ((J - 1) * (n - kfe))), J - 1))

  # --- Lin centring: weighted mean when weights are given
  f <- lm_lin(y ~ z, covariates = ~ x1 + x2, data = sim_trial, weights = w, se_type = "HC2")
  chk("lm_lin weighted: centre = weighted.mean(x, w)", f$scaled_center,
      c(weighted.mean(sim_trial$x1, sim_trial$w), weighted.mean(sim_trial$x2, sim_trial$w)))
  f <- lm_lin(y ~ z, covariates = ~ x1 + x2, data = sim_trial, clusters = cluster, se_type = "CR2")
  chk("lm_lin unweighted (clustered): centre = mean(x)", f$scaled_center,
      c(mean(sim_trial$x1), mean(sim_trial$x2)))
})

## ================================================================ block details
# Per-block components of the blocked difference_in_means cases, to help debug.
block_components <- function(d, block, cluster = NULL, pair_matched = FALSE) {
  dd <- data.frame(y = d$y, t = d$z, block = d[[block]])
  if (!is.null(cluster)) dd$cluster <- as.integer(as.factor(d[[cluster]]))
  parts <- split(dd, dd$block)
  lapply(names(parts), function(b) {
    r <- estimatr:::difference_in_means_internal(condition1 = 0, condition2 = 1, data = parts[[b]],
                                                 pair_matched = pair_matched)
    list(block = as.numeric(b), estimate = num(r$coefficients), std.error = num(r$std.error),
         df = num(r$df), nobs = num(r$nobs),
         nclusters = if (!is.null(cluster)) length(unique(parts[[b]]$cluster)) else NULL)
  })
}
cases[["dim_trial_blocks"]]$blocks <- block_components(env$sim_trial, "block")
cases[["dim_trial_blocks_clusters"]]$blocks <- block_components(env$sim_trial, "block", "cluster")
cases[["dim_pairs_mixed_blocks"]]$blocks <- block_components(env$sim_pairs, "block_mixed", pair_matched = TRUE)
cases[["dim_cluster_pairs"]]$blocks <- block_components(env$sim_cluster_pairs, "pair", "cluster",
                                                        pair_matched = TRUE)

## ======================================================================= output
out <- list(
  description = paste("Reference values from R estimatr for impacteval tests.",
                      "Generated by tests/reference/r/generate_estimatr.R; formulas in",
                      "tests/reference/r/ESTIMATR_FORMULAS.md. Do not edit by hand."),
  generated_by = "tests/reference/r/generate_estimatr.R",
  r_version = R.version.string,
  packages = list(estimatr = as.character(packageVersion("estimatr")),
                  clubSandwich = as.character(packageVersion("clubSandwich")),
                  sandwich = as.character(packageVersion("sandwich")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  datasets = datasets,
  notes = list(
    "All data columns are cast to double before fitting.",
    "conf.low/conf.high are 95% intervals from qt(0.975, df) (t-based, as estimatr).",
    "Fixed-effect cases report only the non-FE coefficients (estimatr hides FE coefficients).",
    "clubSandwich$agrees_with_estimatr (tolerance 1e-8 relative) compares estimate, SE and Satterthwaite df."),
  cases = unname(cases),
  formula_checks = checks
)
write_json(out, out_json, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null")
cat("wrote", length(cases), "cases and", length(checks), "formula checks to", out_json, "\n")
bad <- Filter(function(ch) !(ch$rel_diff < 1e-8), checks)
if (length(bad)) {
  cat("FORMULA CHECKS FAILING:\n"); for (b in bad) cat(" -", b$name, b$rel_diff, "\n")
}
cs_bad <- Filter(function(cs) !is.null(cs$clubSandwich) && !cs$clubSandwich[["agrees_with_estimatr"]], cases)
if (length(cs_bad)) cat("clubSandwich disagreement in:", paste(names(cs_bad), collapse = ", "), "\n")
