# Reference values from R estimatr on two datasets that ship with estimatr's own repository
# (read from the team's shared data folder, never committed to this project):
#   estimatr_alo_star_men.csv  (Angrist, Lang & Oreopoulos 2009; Lin 2013's example)
#   estimatr_mtcars.csv        (R datasets::mtcars, estimatr's test fixture)
# Usage: Rscript tests/reference/r/generate_peer_cases.R [SHARED_DATA_DIR] [OUT_JSON]
suppressPackageStartupMessages({library(estimatr); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "../shared/data"
out <- if (length(args) >= 2) args[2] else "tests/reference/data/estimatr_peer_cases.json"
alo <- read.csv(file.path(dir, "peer_tests", "estimatr_alo_star_men.csv"))
mt <- read.csv(file.path(dir, "peer_tests", "estimatr_mtcars.csv"))
alo[] <- lapply(alo, as.double); mt[] <- lapply(mt, as.double)
tidy_fit <- function(id, call, fit) {
  td <- tidy(fit)
  list(id = id, call = call, nobs = fit$nobs,
       coefficients = lapply(seq_len(nrow(td)), function(i) as.list(td[i, c(
         "term", "estimate", "std.error", "p.value", "conf.low", "conf.high", "df")])))
}
cases <- list(
  tidy_fit("alo_lin_HC2", "lm_lin(GPA_year1 ~ sfsp, covariates = ~ gpa0, data = alo)",
           lm_lin(GPA_year1 ~ sfsp, covariates = ~ gpa0, data = alo)),
  tidy_fit("alo_dim", "difference_in_means(GPA_year1 ~ sfsp, data = alo)",
           difference_in_means(GPA_year1 ~ sfsp, data = alo)),
  tidy_fit("alo_additive_HC3", "lm_robust(GPA_year1 ~ sfsp + gpa0, data = alo, se_type = 'HC3')",
           lm_robust(GPA_year1 ~ sfsp + gpa0, data = alo, se_type = "HC3")),
  tidy_fit("mtcars_HC1", "lm_robust(mpg ~ am + hp + wt, data = mt, se_type = 'HC1')",
           lm_robust(mpg ~ am + hp + wt, data = mt, se_type = "HC1")),
  tidy_fit("mtcars_cyl_CR2", "lm_robust(mpg ~ am + hp + wt, data = mt, clusters = cyl)",
           lm_robust(mpg ~ am + hp + wt, data = mt, clusters = cyl)),
  tidy_fit("mtcars_gear_fe_HC2",
           "lm_robust(mpg ~ am + wt, data = mt, fixed_effects = ~ gear, se_type = 'HC2')",
           lm_robust(mpg ~ am + wt, data = mt, fixed_effects = ~ gear, se_type = "HC2")),
  tidy_fit("mtcars_lin_carb_CR2",
           "lm_lin(mpg ~ am, covariates = ~ wt + hp, data = mt, clusters = carb)",
           lm_lin(mpg ~ am, covariates = ~ wt + hp, data = mt, clusters = carb))
)
res <- list(generated_by = "tests/reference/r/generate_peer_cases.R",
            r_version = R.version.string,
            packages = list(estimatr = as.character(packageVersion("estimatr"))),
            cases = cases)
write_json(res, out, digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", out, "\n")
