"""Resampling work through joblib, so that a joblib backend (e.g. Dask) can take it over.

Every resampling loop of the package (randomisation inference, the Romano-Wolf pairs
bootstrap, the multiplier bootstrap of group-time effects, payment-risk and contract-design
draws, synthetic-control placebos and SDID replications)
hands its work to :func:`run_tasks` as a sequence of tasks. The random numbers a task uses
are drawn *before* the task is dispatched, in the parent and in the same order as a serial
run draws them, so a seeded result does not depend on the backend, on ``n_jobs`` or on the
order in which workers finish: joblib returns results in task order.

``n_jobs``
    ``None`` (the default everywhere) runs serially unless a joblib context is active:
    inside ``with joblib.parallel_config(backend="dask"):`` (or ``parallel_backend``) the
    context's backend and number of workers are used, so a Dask cluster takes the work
    without any argument changing. An int asks for that many workers (``-1``: all); ``1``
    always runs serially in this process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sized
from typing import Any

__all__ = ["effective_jobs", "one_blas_thread", "run_tasks"]


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread for a task's matrix products.

    OpenBLAS may split a product differently with two threads than with one and round the
    sums differently in the last bit; Dask and loky workers run one BLAS thread, so a task
    whose products are computed under this limit gives the same bits in this process and on
    any worker.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")  # type: ignore[no-any-return]


def effective_jobs(n_jobs: int | None) -> int:
    """Number of workers joblib would use for ``n_jobs`` (1 means serial, here).

    ``None`` defers to the active joblib context (1 outside any context).
    """
    if n_jobs == 1:
        return 1
    from joblib import effective_n_jobs

    return max(1, int(effective_n_jobs(n_jobs)))


def run_tasks(
    func: Callable[..., Any],
    tasks: Iterable[tuple[Any, ...]],
    *,
    n_jobs: int | None,
    progress: bool = False,
    desc: str = "",
    total: int | None = None,
) -> list[Any]:
    """``[func(*t) for t in tasks]``, in task order, through joblib when parallel.

    Parameters
    ----------
    func : callable
        A module-level function (picklable, for process and cluster backends).
    tasks : iterable of tuple
        Argument tuples; may be a generator, consumed lazily (joblib dispatches a few tasks
        ahead of the workers, so pre-drawn random numbers need not all be in memory).
    n_jobs : int or None
        See the module docstring.
    progress : bool
        Show a tqdm bar over completed tasks.
    desc : str
        The bar's label.
    total : int, optional
        Number of tasks, for the bar when ``tasks`` is a generator.

    Returns
    -------
    list
        One result per task, in the order of ``tasks`` whatever the backend.
    """
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        size = total if total is not None else (len(tasks) if isinstance(tasks, Sized) else None)
        bar = tqdm(total=size, desc=desc, leave=False)
    results: list[Any]
    if effective_jobs(n_jobs) == 1:
        results = []
        for t in tasks:
            results.append(func(*t))
            if bar is not None:
                bar.update(1)
    else:
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=n_jobs, return_as="generator")
        results = []
        for item in par(delayed(func)(*t) for t in tasks):
            results.append(item)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return results
