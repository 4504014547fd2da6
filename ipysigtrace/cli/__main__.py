"""``python -m ipysigtrace.cli``: the same as the ``ipysigtrace`` command."""

from . import main

raise SystemExit(main())
