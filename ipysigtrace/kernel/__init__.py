"""What knows about ipykernel and IPython's cells, and nothing else in the package does.

``cells``: which cell runs, on which thread, and its label. ``control``: the answer on
the control channel. (Where dumps go, under the running cell, is ``sinks.iopub``.)
"""
