"""The app's vocabulary, defined once: the words that travel between the core, the CLI, the window
and the files on disk.

Each is a `Literal` (plain strings at run time, so JSON, SQLite and messages need no conversion;
mypy checks every use) with a tuple of its values for validation and pickers.
"""

from __future__ import annotations

from typing import Literal, get_args

#: The name of the built-in starter model (a diffusers folder in resources/models).
BUILTIN_MODEL = "starter"

# -- jobs ---------------------------------------------------------------------------------------

#: What a job does; each kind has one request type (core.requests) and one engine (core.jobs).
JobKind = Literal["generate", "style", "upscale", "inpaint"]
JOB_KINDS: tuple[JobKind, ...] = get_args(JobKind)

#: Inpainting: which part of the picture the model works on ("masked": a crop around the mask
#: at the model's own size, pasted back), and what the masked part starts from.
InpaintArea = Literal["whole", "masked"]
INPAINT_AREAS: tuple[InpaintArea, ...] = get_args(InpaintArea)
MaskedContent = Literal["original", "fill", "noise"]
MASKED_CONTENTS: tuple[MaskedContent, ...] = get_args(MaskedContent)

#: How a job ended.
JobStatus = Literal["done", "cancelled", "failed"]
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)

# -- models -------------------------------------------------------------------------------------

#: Model families; "unknown" is an SD-type model of none of the known shapes (a custom or tiny
#: one), which runs but borrows nothing family-specific (preview map, configs).
Family = Literal["sd1", "sd2", "sdxl", "unknown"]
FAMILIES: tuple[Family, ...] = get_args(Family)
#: The families ImageStudio ships configs and preview maps for.
KNOWN_FAMILIES: tuple[Family, ...] = ("sd1", "sd2", "sdxl")

#: How a model is stored: a diffusers folder (model_index.json) or one checkpoint file.
Layout = Literal["folder", "single_file"]
LAYOUTS: tuple[Layout, ...] = get_args(Layout)

#: Where the library found a model.
ModelSource = Literal["builtin", "library", "hf_cache", "path"]

#: What a library entry is for: a model to generate with, a LoRA to add to one, or a
#: textual-inversion embedding to name in a prompt.
EntryRole = Literal["model", "lora", "embedding", "vae"]

#: What a single .safetensors file holds, read from its tensor names.
FileRole = Literal["checkpoint", "lora", "vae", "unet", "embedding", "unknown"]

#: What a model was trained to predict (SD 2.x single files do not say).
Prediction = Literal["epsilon", "v_prediction"]
PREDICTIONS: tuple[Prediction, ...] = get_args(Prediction)

#: A model's variant worth naming in a picker ("" for none).
ModelDetail = Literal["", "lcm", "v-prediction", "inpainting"]

# -- devices and memory -------------------------------------------------------------------------

DeviceType = Literal["cuda", "mps", "cpu"]
DeviceChoice = Literal["auto", "cuda", "mps", "cpu"]
DEVICE_CHOICES: tuple[DeviceChoice, ...] = get_args(DeviceChoice)

Precision = Literal["fp32", "fp16", "bf16"]
PrecisionChoice = Literal["auto", "fp32", "fp16", "bf16"]
PRECISION_CHOICES: tuple[PrecisionChoice, ...] = get_args(PrecisionChoice)

#: The memory setting (see core.generation.memory for what each does).
MemoryMode = Literal["auto", "fast", "balanced", "low", "minimum"]
MEMORY_MODES: tuple[MemoryMode, ...] = get_args(MemoryMode)
Offload = Literal["none", "model", "sequential"]

# -- style transfer -----------------------------------------------------------------------------

StyleMode = Literal["fast", "quality"]
STYLE_MODES: tuple[StyleMode, ...] = get_args(StyleMode)
#: Where the quality mode's optimisation starts.
StyleInit = Literal["content", "noise"]
STYLE_INITS: tuple[StyleInit, ...] = get_args(StyleInit)

# -- the window ---------------------------------------------------------------------------------

Theme = Literal["system", "light", "dark"]
THEMES: tuple[Theme, ...] = get_args(Theme)

# -- the same words for people (pickers, tables, messages) -------------------------------------

FAMILY_LABELS: dict[Family, str] = {
    "sd1": "Stable Diffusion 1.x",
    "sd2": "Stable Diffusion 2.x",
    "sdxl": "Stable Diffusion XL",
    "unknown": "custom SD-type model",
}
#: Families in a few letters, for narrow columns.
SHORT_FAMILY: dict[Family, str] = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
SOURCE_LABELS: dict[ModelSource, str] = {
    "builtin": "built in",
    "library": "models folder",
    "hf_cache": "Hugging Face cache",
    "path": "path",
}
DETAIL_LABELS: dict[str, str] = {
    "lcm": "LCM",
    "v-prediction": "v-prediction",
    "inpainting": "inpainting",
}
