# Timings of MatchIt's default call for benchmarks/bench_matching.py.
#
# Usage: R_LIBS=/tmp/Rlib Rscript benchmarks/bench_matching.R DATA.csv REPEATS MM_OUT BUDGET
#   DATA.csv  the file bench_matching.py wrote (columns treat, y, x1..x4)
#   REPEATS   timed runs after one untimed warm-up
#   MM_OUT    where to write the match matrix: one line per treated unit (data order), the
#             1-based row number of its control, 0 if unmatched; MM_OUT.ps gets R's
#             fitted propensity scores (one per row)
#   BUDGET    seconds; if the warm-up takes longer, it is reported as the only run
#             ("reduced": true) instead of repeating it
#
# The call timed is MatchIt's default: matchit(treat ~ x1 + x2 + x3 + x4, data = dat), i.e.
# method = "nearest", distance = "glm" (logit link), ratio = 1, replace = FALSE,
# m.order = "largest", no caliper. It fits the propensity logit and matches; balance
# statistics are not part of matchit() (summary() computes them).
#
# Needs MatchIt 4.5.1 with upstream fix #163 (or >= 4.5.4): Debian's r-cran-matchit 4.5.1 is
# miscompiled (integer abs() on distances: the lower-score neighbour is always taken). The
# script stops if the loaded MatchIt comes from /usr/lib (Debian) and is older than 4.5.4.
# Prints one JSON object on stdout; progress goes to stderr.

suppressPackageStartupMessages({
  library(MatchIt)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 4) stop("usage: bench_matching.R DATA.csv REPEATS MM_OUT BUDGET")
path <- args[[1]]
repeats <- as.integer(args[[2]])
mm_out <- args[[3]]
budget <- as.numeric(args[[4]])

mi_path <- find.package("MatchIt")
if (startsWith(mi_path, "/usr/lib") && packageVersion("MatchIt") < "4.5.4") {
  stop("MatchIt from ", mi_path, " is Debian's miscompiled 4.5.1; set R_LIBS=/tmp/Rlib")
}

log_msg <- function(...) {
  cat(sprintf("[R %s] ", format(Sys.time(), "%H:%M:%S")), ..., "\n", sep = "", file = stderr())
}
loadavg <- function() as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3])

have_dt <- requireNamespace("data.table", quietly = TRUE)
dat <- if (have_dt) {
  data.table::fread(path, data.table = FALSE, showProgress = FALSE)
} else {
  utils::read.csv(path)
}
log_msg("read ", nrow(dat), " rows; MatchIt ", format(packageVersion("MatchIt")), " from ", mi_path)

run <- function() matchit(treat ~ x1 + x2 + x3 + x4, data = dat)

load0 <- round(loadavg(), 2)
t0 <- proc.time()[["elapsed"]]
m <- run()  # warm-up
t_warm <- proc.time()[["elapsed"]] - t0
log_msg("warm-up: ", round(t_warm, 3), " s")
reduced <- t_warm > budget
runs <- if (reduced) t_warm else numeric(0)
loads <- if (reduced) list(load0) else list()
for (r in seq_len(if (reduced) 0L else repeats)) {
  invisible(gc())
  loads[[r]] <- round(loadavg(), 2)
  t0 <- proc.time()[["elapsed"]]
  m <- run()
  runs[r] <- proc.time()[["elapsed"]] - t0
  log_msg("run ", r, ": ", round(runs[r], 3), " s")
}

md <- match.data(m)
w <- md$weights
att <- weighted.mean(md$y[md$treat == 1], w[md$treat == 1]) -
  weighted.mean(md$y[md$treat == 0], w[md$treat == 0])
mm <- m$match.matrix[, 1]
rows <- ifelse(is.na(mm), 0L, as.integer(mm))
writeLines(as.character(rows), mm_out)
writeLines(sprintf("%.17g", m$distance), paste0(mm_out, ".ps"))  # R's fitted scores

cat(toJSON(list(
  runs = I(runs),
  reduced = reduced,
  loads = loads,
  n_matched = sum(!is.na(mm)),
  att = att,
  matchit_version = format(packageVersion("MatchIt")),
  matchit_path = mi_path
), auto_unbox = TRUE, digits = NA), "\n")
