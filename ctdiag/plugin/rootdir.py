"""Options given with a space keep their meaning for pytest's rootdir and ini file too.

pytest picks its rootdir and ini file before it loads plugins, from every command-line word
that names an existing path, so the DIR of ``--snapshot DIR`` (or the FILE of ``--expect
FILE``, ``--kubeconfig FILE``) is taken for a test path: the project's ini file is missed
(its ``testpaths`` too, so a clone's whole tree is collected) and the cache is written into
the saved run. Once the plugin's options are known, this hook asks pytest's own
``determine_setup`` again with only the real positional arguments and, when the answer
differs, takes it, with the ini file's ``addopts``. Explicit ``-c``/``--rootdir`` stand.
"""

from __future__ import annotations

import copy

import pytest
from _pytest.config.findpaths import determine_setup


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, args: list[str], parser: pytest.Parser
) -> None:
    known = early_config.known_args_namespace
    if known.inifilename or known.rootdir:
        return
    try:
        rootpath, inipath, inicfg, ignored = determine_setup(
            inifile=None, override_ini=known.override_ini, args=known.file_or_dir,
            rootdir_cmd_arg=None, invocation_dir=early_config.invocation_params.dir,
        )  # fmt: skip
    except TypeError:  # another pytest's signature: leave its choice alone
        return
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return
    wrong = early_config.inipath.parent if early_config.inipath else early_config.rootpath
    # What Config._initini would have set, had it known the options.
    early_config._rootpath = rootpath
    early_config._inipath = inipath
    early_config._inicfg = inicfg
    early_config._ignored_config_files = ignored
    early_config._inicache.clear()
    parser.extra_info["rootdir"] = str(rootpath)
    parser.extra_info["inifile"] = str(inipath)
    addopts = early_config._validate_args(early_config.getini("addopts"), "via addopts config")
    args[:] = addopts + args
    early_config.known_args_namespace = parser.parse_known_args(
        args, namespace=copy.copy(early_config.option)
    )
    if known.confcutdir in (None, str(wrong)):
        early_config.known_args_namespace.confcutdir = str(inipath.parent if inipath else rootpath)
