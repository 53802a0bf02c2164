# Timings of estimatr::lm_robust / lm_lin for benchmarks/bench_regression.py.
#
# Usage: Rscript benchmarks/bench_regression.R DATA.csv REPEATS BUDGET_SECONDS [CASES]
#   DATA.csv        the file bench_regression.py wrote (columns y, z, x1..xk, g)
#   REPEATS         timed runs per case, after one untimed warm-up
#   BUDGET_SECONDS  if the warm-up of a case takes longer than this, the warm-up is the only
#                   run of that case and it is reported as the timing ("reduced": true)
#   CASES           comma-separated subset of hc2_additive,cr2_additive,hc2_lin (default all)
#
# Prints one JSON object on stdout (progress goes to stderr). Reading the CSV is timed
# separately and excluded from the case timings; each timing covers the whole lm_robust /
# lm_lin call (formula, model frame, fit, variance), as a user would call it.

suppressPackageStartupMessages({
  library(estimatr)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) {
  stop("usage: bench_regression.R DATA.csv REPEATS BUDGET_SECONDS [CASES]")
}
path <- args[[1]]
repeats <- as.integer(args[[2]])
budget <- as.numeric(args[[3]])
all_cases <- c("hc2_additive", "cr2_additive", "hc2_lin")
cases <- if (length(args) >= 4) strsplit(args[[4]], ",")[[1]] else all_cases

log_msg <- function(...) {
  cat(sprintf("[R %s] ", format(Sys.time(), "%H:%M:%S")), ..., "\n", sep = "", file = stderr())
}

have_dt <- requireNamespace("data.table", quietly = TRUE)
t_read <- system.time({
  dat <- if (have_dt) {
    data.table::fread(path, data.table = FALSE, showProgress = FALSE)
  } else {
    utils::read.csv(path)
  }
})[["elapsed"]]
log_msg("read ", nrow(dat), " rows in ", round(t_read, 1), " s with ",
        if (have_dt) "data.table::fread" else "read.csv")

covs <- grep("^x[0-9]+$", names(dat), value = TRUE)
covs <- covs[order(as.integer(sub("^x", "", covs)))]
f_add <- stats::reformulate(c("z", covs), response = "y")
f_cov <- stats::reformulate(covs)

run_case <- function(case) {
  switch(case,
    hc2_additive = lm_robust(f_add, data = dat, se_type = "HC2"),
    cr2_additive = lm_robust(f_add, data = dat, clusters = g, se_type = "CR2"),
    hc2_lin = lm_lin(y ~ z, covariates = f_cov, data = dat, se_type = "HC2"),
    stop("unknown case ", case)
  )
}

time_once <- function(case) {
  invisible(gc())
  t0 <- proc.time()[["elapsed"]]
  fit <- run_case(case)
  list(seconds = proc.time()[["elapsed"]] - t0, fit = fit)
}

out <- list()
for (case in cases) {
  log_msg(case, ": warm-up")
  warm <- time_once(case)
  times <- numeric(0)
  reduced <- warm$seconds > budget
  if (reduced) {
    log_msg(case, ": warm-up took ", round(warm$seconds, 1), " s > budget ", budget,
            " s; reporting that single run")
    times <- warm$seconds
  } else {
    for (i in seq_len(repeats)) {
      times <- c(times, time_once(case)$seconds)
      log_msg(case, ": run ", i, " ", round(times[[i]], 2), " s")
    }
  }
  fit <- warm$fit
  out[[case]] <- list(
    times = I(times),
    warmup_seconds = warm$seconds,
    reduced = reduced,
    estimate = unname(coef(fit)[["z"]]),
    std_error = unname(fit$std.error[["z"]]),
    df = unname(fit$df[["z"]]),
    n_obs = fit$nobs
  )
}

res <- list(
  read_seconds = t_read,
  reader = if (have_dt) "data.table::fread" else "utils::read.csv",
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  estimatr_version = as.character(utils::packageVersion("estimatr")),
  data_table_version = if (have_dt) as.character(utils::packageVersion("data.table")) else NA,
  blas = tryCatch(extSoftVersion()[["BLAS"]], error = function(e) NA),
  la_library = tryCatch(La_library(), error = function(e) NA),
  cases = out
)
cat(toJSON(res, auto_unbox = TRUE, digits = NA, null = "null", na = "null"), "\n")
