"""PyInstaller hook for diffusers (pyinstaller-hooks-contrib has none).

diffusers decides at import time which back ends it can use (`is_torch_available()` and the
like) by reading the installed distributions' metadata, so without the dist-info folders of
torch, transformers, accelerate, safetensors and friends the frozen app would believe torch is
missing. Same approach as the contrib hook for transformers: copy the metadata of every
dependency in diffusers' own table that is installed.
"""

from PyInstaller.utils.hooks import copy_metadata, get_module_attribute, is_module_satisfies

datas = copy_metadata("diffusers")
try:
    _deps = get_module_attribute("diffusers.dependency_versions_table", "deps")
except Exception:  # an unusual diffusers build: the hook for transformers still covers most
    _deps = {}
for _name, _requirement in _deps.items():
    try:
        if is_module_satisfies(_requirement):
            datas += copy_metadata(_name)
    except Exception:
        pass
