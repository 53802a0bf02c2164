#!/usr/bin/env Rscript
# Reference values for impacteval.matching.nearest_neighbor / propensity_score from
# R MatchIt (nearest-neighbour matching) and Matching::Match (Abadie-Imbens SEs).
#
# Writes tests/reference/data/matchit_reference.json (cases) and
# tests/reference/data/matchit_pscores.json (R's fitted propensity scores, so the Python
# tests can check the matching algorithm on exactly R's scores).
#
# Usage (from the repository root):
#   Rscript tests/reference/r/generate_matchit.R [PATCHED_LIB] [UNPATCHED_LIB]
# PATCHED_LIB (default /tmp/Rlib): library holding MatchIt 4.5.1 built from upstream
#   source with the fix of MatchIt issue #163 (`abs(` -> `std::abs(` in
#   src/nn_matchC_vec.cpp).
# UNPATCHED_LIB (default /tmp/Rlib_unpatched): the same source built without the fix; used
#   only to show that it reproduces Debian's broken binary.
#
# Both libraries were built outside this repository from the MatchIt 4.5.1 sources (upstream
# commit 9762dc60db90, the 4.5.1 CRAN submission; Debian's source package was not
# available). By project policy no code, build script or build recipe for third-party
# sources is kept here: only this generator and the values it wrote.
#
# NEVER use Debian's r-cran-matchit 4.5.1 binary for nearest-neighbour references: it calls
# C's integer abs() on double distances (MatchIt issue #163, fixed upstream in 4.5.4).
# The script runs the key cases under three builds (Debian binary, unpatched source build,
# patched build) in subprocesses and records all three in the JSON `verification` block.

args <- commandArgs(trailingOnly = TRUE)
mode <- if (length(args) >= 1 && args[1] == "--probe") "probe" else "main"

get_repo_root <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1 && nzchar(f)) return(normalizePath(file.path(dirname(f), "..", "..", "..")))
  normalizePath(".")
}
script_path <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  normalizePath(sub("^--file=", "", a[grep("^--file=", a)]))
}
repo_root <- get_repo_root()
data_dir <- file.path(repo_root, "data", "sample")

read_double <- function(name) {
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  d[] <- lapply(d, as.double)  # upstream age/educ are small ints, earnings float32
  d
}

# Dehejia & Wahba (1999) propensity-score specification, as given in the brief (their PSID
# specification): logit of treat on age, age^2, educ, educ^2, married, nodegree, black,
# hisp, re74, re75, re74^2, re75^2, u74, u75, educ*re74, with u74 = 1(re74 == 0) and
# u75 = 1(re75 == 0). The same specification is used for CPS-1.
add_terms <- function(d) {
  d$age2 <- d$age^2
  d$educ2 <- d$educ^2
  d$re742 <- d$re74^2
  d$re752 <- d$re75^2
  d$u74 <- as.double(d$re74 == 0)
  d$u75 <- as.double(d$re75 == 0)
  d$educ_re74 <- d$educ * d$re74
  d
}
ps_vars <- c("age", "age2", "educ", "educ2", "married", "nodegree", "black", "hisp",
             "re74", "re75", "re742", "re752", "u74", "u75", "educ_re74")
ps_formula <- reformulate(ps_vars, response = "treat")

load_sets <- function() {
  psid <- add_terms(read_double("lalonde_psid"))
  nsw <- read_double("nsw_dw")
  cps <- read_double("cps1_controls")
  nsw_cps <- add_terms(rbind(nsw[nsw$treat == 1, ], cps))
  rownames(psid) <- NULL
  rownames(nsw_cps) <- NULL
  list(lalonde_psid = psid, nsw_cps1 = nsw_cps)
}

run_matchit <- function(d, args) {
  a <- c(list(formula = ps_formula, data = d, method = "nearest"), args)
  do.call(MatchIt::matchit, a)
}

if (mode == "probe") {
  # Subprocess: load MatchIt from the library given (or the system one) and print the
  # NSW+CPS-1 1:1 ATT and the caliper-0.1 match count as JSON.
  lib <- if (length(args) >= 2 && nzchar(args[2])) args[2] else NULL
  if (!is.null(lib)) .libPaths(c(lib, .libPaths()))
  suppressPackageStartupMessages(library(MatchIt, lib.loc = lib))
  sets <- load_sets()
  d <- sets$nsw_cps1
  m1 <- run_matchit(d, list())
  md <- match.data(m1)
  att <- unname(coef(lm(re78 ~ treat, data = md, weights = weights))[2])
  m2 <- run_matchit(d, list(caliper = 0.1))
  cat(jsonlite::toJSON(list(
    lib = if (is.null(lib)) "system" else lib,
    matchit_path = find.package("MatchIt"),
    matchit_version = as.character(packageVersion("MatchIt")),
    att_1to1 = att,
    n_treated_matched_caliper_0.1 = sum(!is.na(m2$match.matrix[, 1]))
  ), auto_unbox = TRUE, digits = NA))
  quit(save = "no")
}

patched_lib <- if (length(args) >= 1 && nzchar(args[1])) args[1] else "/tmp/Rlib"
unpatched_lib <- if (length(args) >= 2 && nzchar(args[2])) args[2] else "/tmp/Rlib_unpatched"
.libPaths(c(patched_lib, .libPaths()))
suppressPackageStartupMessages({
  library(MatchIt, lib.loc = patched_lib)
  library(Matching)
  library(sandwich)
  library(lmtest)
  library(jsonlite)
})
stopifnot(startsWith(find.package("MatchIt"), normalizePath(patched_lib)))

probe <- function(lib) {
  out <- system2("Rscript", c(shQuote(script_path()), "--probe", shQuote(lib)), stdout = TRUE)
  fromJSON(paste(out, collapse = ""))
}
verification <- list(
  debian_binary = probe(""),
  unpatched_source_build = probe(unpatched_lib),
  patched_build = probe(patched_lib)
)

sets <- load_sets()
pscores <- list()
cases <- list()

json_opts <- function(a) lapply(a, function(v) if (inherits(v, "formula")) deparse(v) else v)

match_info <- function(m, d) {
  mm <- m$match.matrix  # rows: treated (rownames = row numbers), entries: control row names
  mm_int <- matrix(as.integer(mm), nrow = nrow(mm))
  list(
    treated_rows = as.integer(rownames(mm)),  # 1-based row numbers of the data
    match_matrix = lapply(seq_len(nrow(mm_int)), function(i) mm_int[i, ]),  # NA = none
    matched_rows = which(m$weights > 0),  # 1-based rows with a positive weight
    matched_weights = unname(m$weights[m$weights > 0]),
    matched_subclass = if (is.null(m$subclass)) NULL else
      as.integer(as.character(m$subclass))[m$weights > 0],
    n_matched_treated = sum(!is.na(mm[, 1])),
    n_matched_control = sum(m$weights[d$treat == 0] > 0)
  )
}

outcome_fit <- function(m, replace) {
  md <- match.data(m)
  fit <- lm(re78 ~ treat, data = md, weights = weights)
  res <- list(att = unname(coef(fit)[2]), n_obs = nrow(md), df_residual = fit$df.residual)
  hc3 <- sqrt(diag(vcovHC(fit, type = "HC3")))[2]
  res$se_hc3 <- unname(hc3)
  if (!replace) {
    ct <- coeftest(fit, vcov. = vcovCL, cluster = ~subclass)  # vcovCL default type HC1 = CR1
    res$se_cr1 <- unname(ct[2, 2])
    res$p_value_cr1_t_residual_df <- unname(ct[2, 4])
    res$n_clusters <- length(unique(md$subclass))
  }
  res
}

nn_cases <- list(
  list(id = "nn_1to1", args = list(), replace = FALSE),
  list(id = "nn_1to1_replace", args = list(replace = TRUE), replace = TRUE),
  list(id = "nn_1to1_caliper_0.1", args = list(caliper = 0.1), replace = FALSE),
  list(id = "nn_3to1", args = list(ratio = 3), replace = FALSE)
)
extra_psid <- list(
  list(id = "nn_1to1_smallest", args = list(m.order = "smallest"), replace = FALSE),
  list(id = "nn_1to1_data", args = list(m.order = "data"), replace = FALSE),
  list(id = "nn_1to1_logit", args = list(distance = "glm", link = "linear.logit"),
       replace = FALSE),
  list(id = "nn_2to1_replace_caliper_0.25",
       args = list(ratio = 2, replace = TRUE, caliper = 0.25), replace = TRUE),
  list(id = "nn_1to1_exact_black_married", args = list(exact = ~ black + married),
       replace = FALSE),
  list(id = "nn_mahalanobis", args = list(distance = "mahalanobis"), replace = FALSE,
       mahal = TRUE),
  list(id = "nn_mahvars_caliper_0.25",
       args = list(mahvars = ~ age + educ + re74 + re75, caliper = 0.25), replace = FALSE)
)

for (ds in names(sets)) {
  d <- sets[[ds]]
  glm_fit <- glm(ps_formula, data = d, family = binomial())
  ps <- unname(fitted(glm_fit))
  pscores[[ds]] <- list(pscore = ps, coefficients = as.list(coef(glm_fit)))
  todo <- if (ds == "lalonde_psid") c(nn_cases, extra_psid) else nn_cases
  for (cs in todo) {
    if (isTRUE(cs$mahal)) {
      m <- do.call(MatchIt::matchit, c(list(formula = treat ~ age + educ + re74 + re75,
                                            data = d, method = "nearest"), cs$args))
    } else {
      m <- run_matchit(d, cs$args)
    }
    arg_txt <- vapply(names(cs$args), function(a) {
      v <- cs$args[[a]]
      paste0(a, " = ", if (inherits(v, "formula")) deparse(v) else deparse(v))
    }, character(1L))
    call_txt <- paste0("matchit(", if (isTRUE(cs$mahal)) "treat ~ age + educ + re74 + re75"
                       else "ps_formula", ", data, method = \"nearest\"",
                       if (length(arg_txt)) paste0(", ", paste(arg_txt, collapse = ", ")) else "",
                       ")")
    cases[[length(cases) + 1]] <- c(
      list(dataset = ds, id = cs$id, software = "MatchIt", call = call_txt,
           options = json_opts(cs$args)),
      match_info(m, d),
      outcome_fit(m, cs$replace)
    )
  }
  # Matching::Match on the fitted propensity score (X = probability-scale PS)
  match_cases <- list(
    list(id = "match_att_m1", args = list(estimand = "ATT", M = 1)),
    list(id = "match_att_m1_biasadj", args = list(estimand = "ATT", M = 1, BiasAdjust = TRUE)),
    list(id = "match_att_m3", args = list(estimand = "ATT", M = 3)),
    list(id = "match_ate_m1", args = list(estimand = "ATE", M = 1)),
    list(id = "match_atc_m1", args = list(estimand = "ATC", M = 1))
  )
  for (cs in match_cases) {
    mo <- do.call(Matching::Match, c(list(Y = d$re78, Tr = d$treat, X = ps), cs$args))
    cases[[length(cases) + 1]] <- list(
      dataset = ds, id = cs$id, software = "Matching",
      call = paste0("Match(Y = re78, Tr = treat, X = pscore, ",
                    paste(names(cs$args), unlist(cs$args), sep = " = ", collapse = ", "),
                    ", ties = TRUE, replace = TRUE, Var.calc = 0, distance.tolerance = 1e-5)"),
      options = cs$args,
      est = unname(mo$est[1, 1]), se = unname(mo$se), est_noadj = unname(mo$est.noadj),
      se_standard = unname(mo$se.standard), n_pairs = length(mo$index.treated),
      wnobs = unname(mo$wnobs), sum_weights = sum(mo$weights),
      # the matched pairs themselves only for the small data set (keeps the JSON small)
      index_treated = if (ds == "lalonde_psid") as.integer(mo$index.treated) else NULL,
      index_control = if (ds == "lalonde_psid") as.integer(mo$index.control) else NULL,
      weights = if (ds == "lalonde_psid") unname(mo$weights) else NULL
    )
  }
}

versions <- list(
  R = R.version.string,
  MatchIt = paste(as.character(packageVersion("MatchIt")),
                  "built from upstream commit 9762dc60db90 (the 4.5.1 CRAN submission)",
                  "+ upstream fix #163 (abs( -> std::abs( in src/nn_matchC_vec.cpp)"),
  Matching = as.character(packageVersion("Matching")),
  sandwich = as.character(packageVersion("sandwich")),
  lmtest = as.character(packageVersion("lmtest")),
  jsonlite = as.character(packageVersion("jsonlite"))
)
notes <- c(
  paste("Propensity score: glm(treat ~ age + age2 + educ + educ2 + married + nodegree +",
        "black + hisp + re74 + re75 + re742 + re752 + u74 + u75 + educ_re74, binomial),",
        "u74 = 1(re74 == 0), u75 = 1(re75 == 0), educ_re74 = educ * re74 (Dehejia & Wahba",
        "1999 PSID specification, used for both comparison groups)."),
  "nsw_cps1 = nsw_dw rows with treat == 1 (file order) followed by all cps1_controls rows.",
  paste("Indices are 1-based row numbers of the data set as built here; match_matrix rows",
        "follow treated_rows; NA = no match. subclass ids are MatchIt's (lexical order of row names)."),
  paste("Outcome: lm(re78 ~ treat, data = match.data(m), weights = weights); se_cr1 =",
        "coeftest(fit, vcov. = vcovCL, cluster = ~subclass) (vcovCL default type HC1:",
        "G/(G-1) * (n-1)/(n-k)); se_hc3 = vcovHC(fit, type = 'HC3')."),
  paste("verification: the same NSW+CPS-1 cases run under Debian's r-cran-matchit 4.5.1",
        "binary, the unpatched upstream 4.5.1 source build and the patched build; the first",
        "two agree (broken: every |distance difference| < 1 truncated to 0), the patched one",
        "differs (MatchIt #163: ATT 1,864 vs broken 1,559; caliper 0.1 matches 129 vs 185).")
)
out <- list(versions = versions, notes = notes, verification = verification, cases = cases)
ref_dir <- file.path(repo_root, "tests", "reference", "data")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = FALSE),
           file.path(ref_dir, "matchit_reference.json"))
writeLines(toJSON(list(notes = notes[1:2], pscores = pscores), auto_unbox = TRUE, digits = NA),
           file.path(ref_dir, "matchit_pscores.json"))
cat("wrote", file.path(ref_dir, "matchit_reference.json"), "and matchit_pscores.json\n")
