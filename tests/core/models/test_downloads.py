"""Downloads from a fake Hugging Face Hub served on localhost; nothing here reaches the network."""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imagestudio.core.errors import InvalidRequest, JobCancelled, ModelError, StorageError
from imagestudio.core.models import downloads
from imagestudio.core.models.download_plan import (
    DownloadPlan,
    local_path,
    plan_download,
    validate_repo_id,
)
from imagestudio.core.models.downloads import download_model
from imagestudio.core.models.library import check_model_folder

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "hf_test_token"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt")


@dataclass
class FakeRepo:
    files: dict[str, bytes]
    token: str | None = None
    # The real Hub sends weights to a CDN on another host; "localhost" vs "127.0.0.1" is one.
    cdn_host: str = "127.0.0.1"
    bad_sha: set[str] = field(default_factory=set)
    # sizes the file list claims, where they differ from what is served (a lying server)
    listed_sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class Hit:
    kind: str  # "api", "resolve" or "cdn"
    path: str
    range: str | None
    auth: str | None


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.hits: list[Hit] = []
        self.bytes_sent = 0
        self.support_range = True
        self.lock = threading.Lock()
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()
            self.bytes_sent = 0
        self.support_range = True

    def fetched(self, kind: str = "cdn") -> list[str]:
        return [hit.path for hit in self.hits if hit.kind == kind]


class HubHandler(BaseHTTPRequestHandler):
    server: _HubServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        hub = self.server.hub
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) == 6 and parts[4] == "revision":
            self._api(hub, f"{parts[2]}/{parts[3]}", parts[5])
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._resolve(hub, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        elif parts[0] == "cdn" and len(parts) >= 4:
            repo = hub.repos.get(f"{parts[1]}/{parts[2]}")
            self._record(hub, "cdn", "/".join(parts[3:]))
            if repo is None:
                self._status(404)
            else:
                self._serve(hub, repo.files.get("/".join(parts[3:])))
        else:
            self._status(404)

    def _record(self, hub: FakeHub, kind: str, path: str) -> None:
        hit = Hit(kind, path, self.headers.get("Range"), self.headers.get("Authorization"))
        with hub.lock:
            hub.hits.append(hit)

    def _status(self, code: int, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": f"status {code}"}).encode()
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _allowed(self, repo: FakeRepo) -> bool:
        if repo.token is None or self.headers.get("Authorization") == f"Bearer {repo.token}":
            return True
        self._status(401, {"X-Error-Code": "GatedRepo"})
        return False

    def _api(self, hub: FakeHub, repo_id: str, revision: str) -> None:
        self._record(hub, "api", repo_id)
        repo = hub.repos.get(repo_id)
        if repo is None:
            return self._status(404, {"X-Error-Code": "RepoNotFound"})
        if not self._allowed(repo):
            return None
        if revision not in ("main", COMMIT):
            return self._status(404, {"X-Error-Code": "RevisionNotFound"})
        siblings = []
        for name, data in sorted(repo.files.items()):
            size = repo.listed_sizes.get(name, len(data))
            entry: dict[str, object] = {"rfilename": name, "size": size}
            if name.endswith(WEIGHT_SUFFIXES):
                digest = hashlib.sha256(data).hexdigest()
                if name in repo.bad_sha:
                    digest = "0" * 64
                entry["lfs"] = {"size": size, "sha256": digest}
            siblings.append(entry)
        body = json.dumps({"id": repo_id, "sha": COMMIT, "siblings": siblings}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None

    def _resolve(self, hub: FakeHub, repo_id: str, revision: str, path: str) -> None:
        self._record(hub, "resolve", path)
        repo = hub.repos.get(repo_id)
        if repo is None:
            return self._status(404)
        if not self._allowed(repo):
            return None
        if revision not in ("main", COMMIT) or path not in repo.files:
            return self._status(404, {"X-Error-Code": "EntryNotFound"})
        if path.endswith(WEIGHT_SUFFIXES):
            location = f"http://{repo.cdn_host}:{hub.port}/cdn/{repo_id}/{path}?sig=abc"
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self._serve(hub, repo.files[path])
        return None

    def _serve(self, hub: FakeHub, data: bytes | None) -> None:
        if data is None:
            return self._status(404)
        start = 0
        wanted = self.headers.get("Range")
        if wanted and hub.support_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                return self._status(416, {"Content-Range": f"bytes */{len(data)}"})
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes" if hub.support_range else "none")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        view = memoryview(data)[start:]
        try:
            for offset in range(0, len(view), 32 * 1024):
                block = view[offset : offset + 32 * 1024]
                self.wfile.write(block)
                with hub.lock:
                    hub.bytes_sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client cancelled
        return None


class _HubServer(ThreadingHTTPServer):
    daemon_threads = True
    hub: FakeHub

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a cancelled download closes its connection mid-answer; that is expected


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def tiny_files(tiny_model: Path) -> dict[str, bytes]:
    return _tree(tiny_model)


@pytest.fixture(scope="session")
def hub_server(tiny_files: dict[str, bytes]) -> Iterator[FakeHub]:
    hub = FakeHub()
    index = json.loads(tiny_files["model_index.json"])
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    index["requires_safety_checker"] = True
    sd = dict(tiny_files)
    sd["model_index.json"] = json.dumps(index, indent=2).encode()
    sd.update(
        {
            # What a real SD repo carries besides what a local model needs.
            "README.md": b"# tiny\n",
            ".gitattributes": b"*.safetensors filter=lfs\n",
            "v1-5-pruned-emaonly.safetensors": b"s" * 5000,
            "v1-5-pruned.ckpt": b"p" * 5000,
            "unet/diffusion_pytorch_model.bin": b"b" * 4000,
            "unet/diffusion_pytorch_model.fp16.safetensors": b"h" * 3000,
            "unet/diffusion_pytorch_model.non_ema.safetensors": b"n" * 3000,
            "text_encoder/pytorch_model.bin": b"b" * 2000,
            "text_encoder/model.fp16.safetensors": b"h" * 1000,
            "text_encoder/flax_model.msgpack": b"f" * 1000,
            "safety_checker/config.json": b"{}",
            "safety_checker/model.safetensors": b"c" * 6000,
            "safety_checker/pytorch_model.bin": b"c" * 6000,
            "feature_extractor/preprocessor_config.json": b"{}",
            "vae/diffusion_pytorch_model.bin": b"b" * 2000,
        }
    )
    unet_index = json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["a", "B"]})
    hub.repos = {
        "test/tiny-sd": FakeRepo(sd),
        "test/gated-sd": FakeRepo(dict(tiny_files), token=TOKEN, cdn_host="localhost"),
        "test/pickle-only": FakeRepo(
            {
                "model_index.json": unet_index.encode(),
                "unet/config.json": b"{}",
                "unet/diffusion_pytorch_model.bin": b"b" * 100,
            }
        ),
        "test/ckpt-only": FakeRepo({"README.md": b"hi", "model.ckpt": b"p" * 100}),
        "test/fp16-only": FakeRepo(
            {
                "model_index.json": unet_index.encode(),
                "unet/config.json": b"{}",
                "unet/diffusion_pytorch_model.bin": b"b" * 100,
                "unet/diffusion_pytorch_model.fp16.safetensors": b"h" * 100,
            }
        ),
        "test/single": FakeRepo(
            {
                "README.md": b"hi",
                "art.safetensors": b"a" * 3000,
                "art-pruned.safetensors": b"p" * 2000,
                "art.ckpt": b"c" * 1000,
            },
            bad_sha={"art.safetensors"},
        ),
    }
    server = _HubServer(("127.0.0.1", 0), HubHandler)
    server.hub = hub
    hub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hub
    server.shutdown()
    server.server_close()


@pytest.fixture
def hub(hub_server: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    hub_server.reset()
    return hub_server


def _plan(hub: FakeHub, repo_id: str = "test/tiny-sd", **kwargs: object) -> DownloadPlan:
    return plan_download(repo_id, endpoint=hub.endpoint, **kwargs)  # type: ignore[arg-type]


# -- repo ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("runwayml/stable-diffusion-v1-5", "runwayml/stable-diffusion-v1-5"),
        ("  Org_1/model.v2  ", "Org_1/model.v2"),
        ("https://huggingface.co/stabilityai/sdxl-turbo", "stabilityai/sdxl-turbo"),
        ("https://huggingface.co/stabilityai/sdxl-turbo/tree/main/unet", "stabilityai/sdxl-turbo"),
        ("huggingface.co/owner/name/", "owner/name"),
        ("https://hf.co/owner/name", "owner/name"),
    ],
)
def test_repo_id_accepts_ids_and_hub_addresses(text: str, expected: str) -> None:
    assert validate_repo_id(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Hugging Face id"),
        ("stable-diffusion", "add the owner"),
        ("owner/na me", "only letters"),
        ("owner/name/extra", "looks like owner/model-name"),
        ("owner/../etc", "looks like owner/model-name"),
        ("https://example.com/owner/name", "not a Hugging Face address"),
        ("https://huggingface.co/datasets/owner/name", "dataset, not a model"),
        ("https://huggingface.co/owner", "should end in /owner/model-name"),
    ],
)
def test_bad_repo_ids_are_refused_with_a_sentence(text: str, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says):
        validate_repo_id(text)


# -- planning -----------------------------------------------------------------------------------


def test_plan_picks_exactly_the_files_a_local_model_needs(
    hub: FakeHub, tiny_files: dict[str, bytes]
) -> None:
    plan = _plan(hub)
    assert sorted(path for path, _ in plan.files) == sorted(tiny_files)
    assert plan.layout == "folder"
    assert plan.name == "tiny-sd"
    assert plan.commit == COMMIT
    assert plan.skipped_components == ("safety_checker",)
    served = hub.repos["test/tiny-sd"].files
    assert all(size == len(served[path]) for path, size in plan.files)
    assert plan.total_bytes == sum(size for _, size in plan.files)
    assert hub.fetched("cdn") == []  # planning reads the file list and model_index.json only
    assert hub.fetched("resolve") == ["model_index.json"]


def test_plan_prefers_the_variant_asked_for_and_saves_it_under_the_plain_name(
    hub: FakeHub,
) -> None:
    plan = _plan(hub, variant="fp16")
    weights = sorted(path for path, _ in plan.files if path.endswith(".safetensors"))
    assert weights == [
        "text_encoder/model.fp16.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.safetensors",  # no fp16 vae: the plain one
    ]
    assert local_path(plan, "unet/diffusion_pytorch_model.fp16.safetensors") == (
        "unet/diffusion_pytorch_model.safetensors"
    )
    assert local_path(plan, "unet/diffusion_pytorch_model.safetensors.index.fp16.json") == (
        "unet/diffusion_pytorch_model.safetensors.index.json"
    )
    shard = "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors"
    assert local_path(plan, shard) == shard  # the index names shards as they are


def test_plan_falls_back_to_fp16_when_that_is_all_there_is(hub: FakeHub) -> None:
    plan = _plan(hub, "test/fp16-only")
    assert [path for path, _ in plan.files] == [
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
    ]


def test_plan_of_single_file_repo_takes_one_safetensors_file(hub: FakeHub) -> None:
    plan = _plan(hub, "test/single")
    assert plan.layout == "single_file"
    assert plan.files == (("art-pruned.safetensors", 2000),)
    assert plan.alternatives == ("art.safetensors",)
    chosen = _plan(hub, "test/single", filename="art.safetensors")
    assert chosen.files == (("art.safetensors", 3000),)
    with pytest.raises(ModelError, match="pickle-based"):
        _plan(hub, "test/single", filename="art.ckpt")
    with pytest.raises(ModelError, match=r"no file named nope.safetensors"):
        _plan(hub, "test/single", filename="nope.safetensors")


@pytest.mark.parametrize("repo_id", ["test/pickle-only", "test/ckpt-only"])
def test_pickle_only_repos_are_refused(hub: FakeHub, repo_id: str) -> None:
    with pytest.raises(ModelError, match=r"only pickle-based weights .* can run code"):
        _plan(hub, repo_id)
    assert hub.fetched("cdn") == []


def test_unknown_repo_or_revision_says_so(hub: FakeHub) -> None:
    with pytest.raises(ModelError, match=r"127\.0\.0\.1 has no model nobody/nothing"):
        _plan(hub, "nobody/nothing")
    with pytest.raises(ModelError, match="at revision 'v9'"):
        _plan(hub, "test/tiny-sd", revision="v9")


def test_gated_repo_asks_for_a_token(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match=r"HTTP 401.*gated.*HF_TOKEN"):
        _plan(hub, "test/gated-sd")
    with pytest.raises(ModelError, match="with the token given"):
        _plan(hub, "test/gated-sd", token="wrong")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert plan_download("test/gated-sd").repo_id == "test/gated-sd"  # endpoint from HF_ENDPOINT


def test_unreachable_host_says_the_computer_seems_offline(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ModelError, match=r"Could not reach 127\.0\.0\.1: .*offline.*refused"):
        plan_download("owner/name", endpoint=f"http://127.0.0.1:{port}", timeout=5)


# -- downloading --------------------------------------------------------------------------------


def test_download_gives_a_model_that_loads(
    hub: FakeHub, tiny_files: dict[str, bytes], tmp_path: Path
) -> None:
    models = tmp_path / "models"
    calls: list[tuple[int, int, str]] = []
    folder = download_model(
        "test/tiny-sd",
        models,
        on_progress=lambda done, total, name: calls.append((done, total, name)),
        chunk_size=64 * 1024,
    )
    assert folder == models / "tiny-sd"
    got = _tree(folder)
    assert sorted(got) == sorted(tiny_files)
    index = json.loads(got.pop("model_index.json"))
    assert index["safety_checker"] == [None, None]  # skipped, and marked so
    assert all(got[name] == tiny_files[name] for name in got)
    assert not (models / ".partial").exists()
    assert sorted(hub.fetched("cdn")) == sorted(p for p in tiny_files if p.endswith(".safetensors"))

    served = hub.repos["test/tiny-sd"].files
    total = sum(len(served[name]) for name in tiny_files)
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1][:2] == (total, total)
    assert {c[1] for c in calls} == {total}

    check_model_folder(folder)
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder, local_files_only=True)
    assert pipe.unet is not None and pipe.safety_checker is None


def test_progress_is_reported_at_most_ten_times_a_second(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = itertools.count()
    # Each reading of the clock is 30 ms later than the last.
    monkeypatch.setattr(downloads, "_clock", lambda: next(readings) * 0.03)
    calls: list[int] = []
    download_model(
        _plan(hub), tmp_path, on_progress=lambda d, t, n: calls.append(d), chunk_size=16 * 1024
    )
    chunks = hub.bytes_sent // (16 * 1024)
    assert 3 < len(calls) <= chunks // 3 + 2  # one report per 4 readings (>= 100 ms) + the last


def test_cancel_keeps_the_parts_and_the_next_call_resumes(
    hub: FakeHub, tiny_files: dict[str, bytes], tmp_path: Path
) -> None:
    plan = _plan(hub)
    checks = 0

    def cancel_half_way() -> bool:
        nonlocal checks
        checks += 1
        return checks > 50  # a check per 64 KiB chunk: about half of the 6.7 MB

    with pytest.raises(JobCancelled, match=r"cancelled.*resumes"):
        download_model(plan, tmp_path, is_cancelled=cancel_half_way, chunk_size=64 * 1024)
    partial = tmp_path / ".partial" / "tiny-sd"
    assert list(partial.rglob("*.part"))
    assert not (tmp_path / "tiny-sd").exists()
    first = hub.bytes_sent

    hub.reset()
    folder = download_model(plan, tmp_path, chunk_size=64 * 1024)
    resumed = [hit for hit in hub.hits if hit.range]
    assert [hit.kind for hit in resumed] == ["resolve", "cdn"]  # Range survives the redirect
    assert all(hit.range and not hit.range.startswith("bytes=0-") for hit in resumed)
    assert hub.bytes_sent < plan.total_bytes  # only what was missing
    assert first + hub.bytes_sent < 2 * plan.total_bytes
    assert (
        _tree(folder)["unet/diffusion_pytorch_model.safetensors"]
        == (tiny_files["unet/diffusion_pytorch_model.safetensors"])
    )
    check_model_folder(folder)


def test_server_without_range_support_still_completes(
    hub: FakeHub, tiny_files: dict[str, bytes], tmp_path: Path
) -> None:
    plan = _plan(hub)
    checks = iter(range(1000))
    with pytest.raises(JobCancelled):
        download_model(plan, tmp_path, is_cancelled=lambda: next(checks) > 40, chunk_size=65536)
    hub.reset()
    hub.support_range = False
    calls: list[int] = []
    folder = download_model(plan, tmp_path, on_progress=lambda d, t, n: calls.append(d))
    assert any(hit.range for hit in hub.hits)  # asked to resume, was sent the whole file
    got = _tree(folder)
    assert all(got[name] == tiny_files[name] for name in got if name != "model_index.json")
    assert calls[-1] == plan.total_bytes


def test_token_goes_to_the_hub_but_not_to_the_cdn(hub: FakeHub, tmp_path: Path) -> None:
    folder = download_model("test/gated-sd", tmp_path, token=TOKEN)
    check_model_folder(folder)
    assert hub.fetched("cdn")
    assert all(hit.auth is None for hit in hub.hits if hit.kind == "cdn")
    assert all(hit.auth == f"Bearer {TOKEN}" for hit in hub.hits if hit.kind != "cdn")


def test_single_file_download_and_checksum(hub: FakeHub, tmp_path: Path) -> None:
    folder = download_model("test/single", tmp_path)
    assert _tree(folder) == {"art-pruned.safetensors": b"p" * 2000}
    with pytest.raises(ModelError, match="damaged"):
        download_model("test/single", tmp_path, filename="art.safetensors", name="art")
    assert not (tmp_path / "art").exists()


def test_an_existing_model_folder_is_never_replaced(hub: FakeHub, tmp_path: Path) -> None:
    (tmp_path / "tiny-sd").mkdir()
    (tmp_path / "tiny-sd" / "mine.txt").write_text("keep")
    plan = _plan(hub)
    hub.reset()
    with pytest.raises(ModelError, match="A model named tiny-sd already exists"):
        download_model(plan, tmp_path)
    assert hub.hits == []
    assert (tmp_path / "tiny-sd" / "mine.txt").read_text() == "keep"


def test_not_enough_disk_space_says_how_much_is_needed(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(hub)
    usage = types.SimpleNamespace(total=10**9, used=10**9, free=1000)
    monkeypatch.setattr(downloads.shutil, "disk_usage", lambda _: usage)
    with pytest.raises(StorageError, match=r"needs 6\.\d MB more.*1\.0 KB free"):
        download_model(plan, tmp_path)


def test_missing_file_on_the_server_names_it(hub: FakeHub, tmp_path: Path) -> None:
    plan = _plan(hub)
    broken = DownloadPlan(**{**plan.__dict__, "files": (*plan.files, ("unet/gone.json", 10))})
    with pytest.raises(ModelError, match=r"has no file unet/gone.json"):
        download_model(broken, tmp_path)


# -- a hostile server ----------------------------------------------------------------------------


HOSTILE_PATHS = [
    "../escape.safetensors",
    "unet/../../escape.json",
    "/etc/imagestudio-escape.json",
    "unet\\..\\..\\escape.json",
    "C:/escape.json",
    "unet//config.json",
    "unet/./config.json",
    "unet/con\x00fig.json",
    "unet/" + "x" * 300 + ".json",
]


@pytest.mark.parametrize("bad", HOSTILE_PATHS)
def test_a_server_cannot_make_a_download_write_outside_its_folder(
    hub: FakeHub, tmp_path: Path, tiny_files: dict[str, bytes], bad: str
) -> None:
    # a single-file repo whose only checkpoint has a hostile name
    single = bad if bad.endswith(".safetensors") else bad.rsplit(".", 1)[0] + ".safetensors"
    hub.repos["evil/single"] = FakeRepo({single: b"s" * 100})
    # a diffusers repo whose component folder holds a hostile file name
    files = dict(tiny_files)
    files[bad] = b"{}"
    hub.repos["evil/files"] = FakeRepo(files)
    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for repo_id in ("evil/single", "evil/files"):
        try:
            download_model(repo_id, models, endpoint=hub.endpoint)
        except ModelError as caught:
            assert str(caught).endswith(".")
    written = [p for p in tmp_path.rglob("*") if str(p) not in before]
    assert [p for p in written if not p.resolve().is_relative_to(models.resolve())] == []
    assert not any("escape" in p.name for p in written)
    assert not Path("/etc/imagestudio-escape.json").exists()


@pytest.mark.parametrize("component", ["../outside", "..", "a/b", "c:d", ""])
def test_hostile_component_names_refuse_the_whole_plan(
    hub: FakeHub, tiny_files: dict[str, bytes], component: str
) -> None:
    files = dict(tiny_files)
    index = json.loads(files["model_index.json"])
    index[component] = ["diffusers", "UNet2DConditionModel"]
    files["model_index.json"] = json.dumps(index).encode()
    files[f"{component}/config.json"] = b"{}"
    hub.repos["evil/component"] = FakeRepo(files)
    with pytest.raises(ModelError, match="will not write"):
        _plan(hub, "evil/component")


def test_a_hand_made_plan_with_a_bad_path_writes_nothing(hub: FakeHub, tmp_path: Path) -> None:
    plan = _plan(hub)
    evil = DownloadPlan(
        repo_id=plan.repo_id,
        revision=plan.revision,
        files=(*plan.files[:1], ("../../escape.json", 2)),
        total_bytes=plan.total_bytes,
        name=plan.name,
        commit=plan.commit,
        endpoint=plan.endpoint,
    )
    with pytest.raises(ModelError, match="will not write"):
        download_model(evil, tmp_path / "models")
    assert not (tmp_path / "escape.json").exists() and hub.fetched() == []


def test_malformed_file_lists_are_a_sentence(hub: FakeHub, monkeypatch) -> None:
    from imagestudio.core.models import hub as hub_module

    for body in ("[" * 100_000 + "]" * 100_000, '{"siblings": 5}', "\xff\xfe", "1" * 10):
        monkeypatch.setattr(
            hub_module, "open_url", lambda *a, body=body, **k: _Answer(body.encode("latin-1"))
        )
        try:
            plan_download("test/tiny-sd", endpoint=hub.endpoint)
        except ModelError as caught:
            assert str(caught).endswith(".")


class _Answer:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, limit: int = -1) -> bytes:
        return self.data if limit < 0 else self.data[:limit]

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_server_that_sends_more_than_the_file_holds_is_stopped(
    hub: FakeHub, tmp_path: Path
) -> None:
    hub.repos["evil/endless"] = FakeRepo(
        {"art.safetensors": b"a" * 3_000_000}, listed_sizes={"art.safetensors": 1000}
    )
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="sent more"):
        download_model("evil/endless", models, endpoint=hub.endpoint)
    parts = list(models.rglob("*.part"))
    assert all(p.stat().st_size <= 1000 for p in parts)
