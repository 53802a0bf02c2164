#!/usr/bin/env Rscript
# Generates the seeded synthetic data sets used as reference inputs:
#   tests/reference/data/sim_trial.csv          (~600 units, blocked + clustered trial)
#   tests/reference/data/sim_pairs.csv          (40 matched pairs of single units)
#   tests/reference/data/sim_cluster_pairs.csv  (20 matched pairs of clusters)
#
# Usage (from the repository root):
#   Rscript tests/reference/r/make_sim_data.R [OUT_DIR]
# OUT_DIR defaults to tests/reference/data (relative to the repo root).
# Only base R is used; output is deterministic for a given R version (RNG
# kind "Mersenne-Twister"/"Inversion"/"Rejection", the R >= 3.6 default).

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
out_dir <- if (length(targs) >= 1) targs[1] else file.path(repo_root, "tests", "reference", "data")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

RNGkind("Mersenne-Twister", "Inversion", "Rejection")

# Write a data frame with every double at 17 significant digits (round-trips
# exactly to IEEE-754 doubles); integers stay integers.
write_full_precision <- function(df, path) {
  out <- df
  for (nm in names(out)) {
    v <- out[[nm]]
    if (is.double(v) && any(v != round(v))) {
      out[[nm]] <- sprintf("%.17g", v)
    } else if (is.double(v)) {
      out[[nm]] <- format(v, scientific = FALSE, trim = TRUE)
    }
  }
  write.csv(out, path, row.names = FALSE, quote = FALSE)
}

## ---------------------------------------------------------------- sim_trial
set.seed(20261126)
n_blocks <- 8L
# 60 clusters spread unevenly across 8 blocks (every block has >= 4 clusters
# so that at least 2 treated and 2 control clusters exist in each block).
clusters_per_block <- c(4L, 5L, 6L, 7L, 8L, 9L, 10L, 11L)
stopifnot(sum(clusters_per_block) == 60L)
n_clusters <- sum(clusters_per_block)
cluster_block <- rep(seq_len(n_blocks), times = clusters_per_block)
cluster_size <- sample(3:20, n_clusters, replace = TRUE, prob = rev(seq_len(18)))
# complete randomisation of clusters within each block: m_b = round(J_b / 2)
# (at least 2, at most J_b - 2), chosen at random positions
cluster_z <- integer(n_clusters)
for (b in seq_len(n_blocks)) {
  idx <- which(cluster_block == b)
  jb <- length(idx)
  m <- min(max(2L, round(jb * runif(1, 0.35, 0.65))), jb - 2L)
  cluster_z[idx[sample.int(jb, m)]] <- 1L
}
block_effect <- rnorm(n_blocks, 0, 1.5)
cluster_effect <- rnorm(n_clusters, 0, 0.7)

cluster <- rep(seq_len(n_clusters), times = cluster_size)
n <- length(cluster)
block <- cluster_block[cluster]
z <- cluster_z[cluster]
x1 <- rnorm(n, 0, 1) + 0.3 * block_effect[block]
x2 <- rgamma(n, shape = 2, rate = 1)
tau_i <- 1.0 + 0.5 * x1 - 0.2 * (block - 4.5)
eps <- rnorm(n, 0, 1) * (0.6 + 0.4 * abs(x1) + 0.5 * z)
y <- 2 + z * tau_i + 0.8 * x1 - 0.4 * x2 + block_effect[block] +
  cluster_effect[cluster] + eps
w <- exp(rnorm(n, 0, 0.45)) * (1 + 0.5 * (block %% 3))

sim_trial <- data.frame(
  id = seq_len(n), y = y, z = z, x1 = x1, x2 = x2,
  block = block, cluster = cluster, w = w
)
# sanity checks on the design
stopifnot(all(tapply(sim_trial$z, sim_trial$cluster, function(v) length(unique(v))) == 1))
stopifnot(all(tapply(sim_trial$block, sim_trial$cluster, function(v) length(unique(v))) == 1))
stopifnot(all(cluster_size >= 3 & cluster_size <= 20))
stopifnot(all(tapply(cluster_z, cluster_block, sum) >= 2))
stopifnot(all(tapply(1 - cluster_z, cluster_block, sum) >= 2))
write_full_precision(sim_trial, file.path(out_dir, "sim_trial.csv"))

## ---------------------------------------------------------------- sim_pairs
# 40 matched pairs of single units.  Column block_mixed merges pairs
# 31&32, 33&34, ..., 39&40 into 5 blocks of 4 units (2 treated, 2 control)
# and leaves pairs 1..30 as they are: a design where some blocks are pairs
# and others are larger.
n_pairs <- 40L
pair <- rep(seq_len(n_pairs), each = 2L)
pair_effect <- rnorm(n_pairs, 0, 2)
zp <- as.vector(vapply(seq_len(n_pairs), function(i) sample(c(0L, 1L)), integer(2)))
yp <- 1 + pair_effect[pair] + zp * (0.7 + rnorm(2 * n_pairs, 0, 0.5)) +
  rnorm(2 * n_pairs, 0, 1)
block_mixed <- ifelse(pair <= 30L, pair, 31L + 2L * ((pair - 31L) %/% 2L))
sim_pairs <- data.frame(id = seq_along(pair), y = yp, z = zp, pair = pair,
                        block_mixed = block_mixed)
stopifnot(all(tapply(sim_pairs$z, sim_pairs$pair, sum) == 1))
write_full_precision(sim_pairs, file.path(out_dir, "sim_pairs.csv"))

## -------------------------------------------------------- sim_cluster_pairs
# 20 matched pairs of clusters; each pair (block) holds 2 clusters of 2..8
# units, one cluster treated and one control.
n_cpairs <- 20L
cp_cluster_pair <- rep(seq_len(n_cpairs), each = 2L)
cp_cluster_z <- as.vector(vapply(seq_len(n_cpairs), function(i) sample(c(0L, 1L)), integer(2)))
cp_size <- sample(2:8, 2L * n_cpairs, replace = TRUE)
cp_effect <- rnorm(2L * n_cpairs, 0, 0.6)
cp_pair_effect <- rnorm(n_cpairs, 0, 1.5)
cl <- rep(seq_len(2L * n_cpairs), times = cp_size)
yc <- 0.5 + cp_pair_effect[cp_cluster_pair[cl]] + cp_effect[cl] +
  cp_cluster_z[cl] * 0.8 + rnorm(length(cl), 0, 1)
sim_cluster_pairs <- data.frame(
  id = seq_along(cl), y = yc, z = cp_cluster_z[cl],
  pair = cp_cluster_pair[cl], cluster = cl
)
write_full_precision(sim_cluster_pairs, file.path(out_dir, "sim_cluster_pairs.csv"))

cat("wrote", nrow(sim_trial), "rows to sim_trial.csv,",
    nrow(sim_pairs), "rows to sim_pairs.csv,",
    nrow(sim_cluster_pairs), "rows to sim_cluster_pairs.csv in", out_dir, "\n")
