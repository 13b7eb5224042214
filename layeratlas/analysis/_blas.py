"""How many BLAS threads an analysis step uses.

Snakemake sets OPENBLAS_NUM_THREADS to a job's ``threads``; on small arrays extra BLAS threads only
add synchronisation, and on a busy machine OpenBLAS's waiting threads make them far worse (measured
on the shared 2-core machine: a 1,078 x 128 logistic regression took 4.8 s with 2 threads, 0.05 s
with 1). So small problems run single-threaded; large ones use the threads the job was given.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

# Below this many matrix entries one BLAS call is well under a millisecond of arithmetic.
SMALL_ENTRIES = 2**22


def blas_threads(entries: int, threads: int) -> AbstractContextManager:
    """Context limiting BLAS to ``threads`` threads, or to 1 when the matrix has few ``entries``."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if entries < SMALL_ENTRIES else max(1, int(threads)), user_api="blas")
