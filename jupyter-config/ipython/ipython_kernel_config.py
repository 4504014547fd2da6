# Installed with ipysigtrace into this environment's IPython configuration directory
# (<sys.prefix>/etc/ipython): every IPython kernel started from this environment loads
# ipysigtrace, so the first hang can be looked at without %load_ext.
# Turn it off with `ipysigtrace autoload disable`, `IPySigTrace.autoload = False` in your
# own ipython_kernel_config, or IPYSIGTRACE_AUTOLOAD=0 in the kernel's environment.
try:
    from ipysigtrace.autoload import configure
except ImportError:  # ipysigtrace was removed but this file stayed behind
    pass
else:
    configure(c)  # noqa: F821 (IPython provides `c`)
