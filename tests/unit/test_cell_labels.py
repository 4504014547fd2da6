"""Cell labels from IPython's own naming: `Cell In[7]`, on every supported IPython."""

from __future__ import annotations

from types import SimpleNamespace

from IPython.core.compilerop import CachingCompiler

from ipysigtrace.kernel.cells import cell_labeler


def test_a_cached_cell_is_labelled_by_its_number() -> None:
    compiler = CachingCompiler()
    name = compiler.cache("x = 1\n", 7)
    label = cell_labeler(compiler)
    assert label(name) == "Cell In[7]"
    assert label("/usr/lib/python3/os.py") is None


def test_without_format_code_name_the_filename_map_is_used() -> None:
    # IPython 8.0's compiler: the map from a cell's file name to its number, and no
    # format_code_name (that came later).
    compiler = CachingCompiler()
    name = compiler.cache("y = 2\n", 3)
    early = SimpleNamespace(_filename_map=compiler._filename_map)
    label = cell_labeler(early)
    assert label(name) == "Cell In[3]"
    assert label("<stdin>") is None
    assert cell_labeler(SimpleNamespace()) is None, "neither: no labels, and no error"
