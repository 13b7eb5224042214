"""What a UMAP job loads and compiles (issue 22): pynndescent's search index stays unimported below the
size where UMAP builds it, and every umap / pynndescent function it compiles goes through numba's cache.
Counted in a fresh interpreter, as a job runs; the machine's own numba cache (an empty one would compile
for tens of seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from layeratlas.analysis import embeddings
from tests.conftest import ROOT


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_a_umap_fit_loads_no_nndescent_and_caches_every_function():
    """Before: `import umap` ran pynndescent's __init__, which imported NNDescent and its trees (51
    functions loaded from numba's cache, or ~13 CPU-seconds of compiling on an empty one), and compiled
    umap.utils.tau_rand_int and tau_rand again in every process (~0.45 CPU-s). Then the whole of
    pynndescent is loaded (its __init__ also picks numba's threading layer) and the same seeded fit gives
    the same numbers, to the bit."""
    seen = _run(
        """
        import json, sys
        import numpy as np
        from numba.core.registry import CPUDispatcher
        from layeratlas.analysis.embeddings import embed

        def numba_functions():
            used, uncached = [], []
            for name, module in list(sys.modules.items()):
                if module is None or not name.startswith(("umap", "pynndescent")):
                    continue
                for value in vars(module).values():
                    if isinstance(value, CPUDispatcher) and value.overloads:
                        used.append(f"{value.py_func.__module__}.{value.py_func.__name__}")
                        if type(value._cache).__name__ == "NullCache":
                            uncached.append(used[-1])
            return sorted(set(used)), uncached

        x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
        coords = embed(x, "umap", seed=3, params={"n_neighbors": 5})
        used, uncached = numba_functions()
        modules = sorted(sys.modules)
        sys.modules["pynndescent"].__version__  # an attribute not deferred: the real __init__ runs
        whole = "pynndescent.pynndescent_" in sys.modules and len(numba_functions()[0]) > len(used)
        same = embed(x, "umap", seed=3, params={"n_neighbors": 5}).tobytes() == coords.tobytes()
        print(json.dumps({"modules": modules, "used": used, "uncached": uncached, "whole": whole,
                          "same": same}))
        """
    )
    for heavy in ("pynndescent.pynndescent_", "pynndescent.rp_trees", "pynndescent.hub_tree"):
        assert heavy not in seen["modules"]
    assert "pynndescent.distances" in seen["modules"]  # umap's euclidean distance comes from here
    assert not seen["uncached"], seen["uncached"]  # each compiled once per machine, then loaded
    assert "umap.utils.tau_rand_int" in seen["used"]
    assert len(seen["used"]) <= 30, seen["used"]  # 51 before (umap-learn 0.5.12, pynndescent 0.7.0)
    assert seen["whole"] and seen["same"]


def test_nndescent_still_there_when_asked_for(tmp_path, monkeypatch):
    """The deferred package (a stand-in package, so that no NNDescent is compiled here): importing what
    the deferred submodule holds gives a stand-in class, the submodule is imported only when one is built
    (or another attribute is asked of the package), and then objects and isinstance are the real ones."""
    package = tmp_path / "deferme"
    package.mkdir()
    (package / "__init__.py").write_text("from .heavy import Index\nINIT_RAN = True\n")
    (package / "heavy.py").write_text("class Index:\n    def __init__(self, k):\n        self.k = k\n")
    (package / "light.py").write_text("VALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("deferme", "deferme.heavy", "deferme.light"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    embeddings._defer_init("deferme", "deferme.heavy", ("Index",))
    from deferme import Index
    from deferme.light import VALUE

    assert VALUE == 3 and "deferme.heavy" not in sys.modules
    assert not isinstance(object(), Index) and "deferme.heavy" not in sys.modules
    index = Index(k=4)
    assert "deferme.heavy" in sys.modules and sys.modules["deferme"].INIT_RAN
    assert type(index) is sys.modules["deferme.heavy"].Index and index.k == 4
    assert isinstance(index, Index)
    assert sys.modules["deferme"].Index is sys.modules["deferme.heavy"].Index


def test_a_package_attribute_runs_the_deferred_init(tmp_path, monkeypatch):
    package = tmp_path / "deferme2"
    package.mkdir()
    (package / "__init__.py").write_text("from .heavy import Index\n__version__ = '1.0'\n")
    (package / "heavy.py").write_text("class Index:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("deferme2", "deferme2.heavy"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    embeddings._defer_init("deferme2", "deferme2.heavy", ("Index",))
    import deferme2

    assert "deferme2.heavy" not in sys.modules
    assert deferme2.__version__ == "1.0" and "deferme2.heavy" in sys.modules
