"""The notebooks of docs/notebooks: each runs top to bottom in a real Jupyter kernel.

Every notebook's first code cell is tagged ``parameters`` (papermill's convention) and holds its
budget and ``OUTPUT_DIR``. The test inserts a cell after it with :data:`TINY_PARAMETERS`
(``OUTPUT_DIR`` is the test's temporary folder) and executes the notebook with nbclient; a cell
that raises fails the test. The committed files must carry the outputs of a full run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOK_DIR = ROOT / "docs" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

#: A tiny DQN on CartPole (as tests/conftest.py's TINY) for the variants of the DQN notebook.
TINY_DQN = [
    "agent.learning_starts=200",
    "agent.batch_size=16",
    "agent.buffer_size=2000",
    "agent.network.encoder.hidden_sizes=[16,16]",
    "eval.episodes=2",
    "eval.final_episodes=2",
    "logging.log_freq=200",
    "device=cpu",
]

#: Values that replace each notebook's parameters, by file name: a few seconds of work each.
#: Every notebook needs an entry, so none runs its full budget here.
TINY_PARAMETERS: dict[str, dict[str, Any]] = {
    "dli_cartpole_dqn.ipynb": {
        "TOTAL_STEPS": 1200,
        "SEEDS": [0],
        "EVAL_FREQ": 400,
        "EXTRA_OVERRIDES": TINY_DQN,
    },
    "dli_gan.ipynb": {
        "EPOCHS": 2,
        "METRICS_EVERY": 1,
        "FASHION_MNIST": False,  # the same test on machines with and without the files
        "EXTRA_OVERRIDES": [
            "model.latent_dim=8",
            "model.generator.width=8",
            "model.generator.embed_dim=4",
            "model.discriminator.width=8",
            "metrics.samples=200",
            "metrics.classifier.model.channels=[8,16]",
            "metrics.classifier.model.hidden_sizes=[32]",
            "metrics.classifier.min_steps=150",
            "device=cpu",
        ],
    },
    "books_mlp.ipynb": {
        "DATASET": "digits",
        "EPOCHS": 2,
        "EXTRA_OVERRIDES": ["device=cpu"],
    },
    "rl_lab_vs_sb3.ipynb": {
        "TOTAL_STEPS": 512,
        "SEEDS": [0, 1],
        "EXTRA_OVERRIDES": [
            "env.num_envs=2",
            "agent.n_steps=64",
            "agent.batch_size=64",
            "agent.n_epochs=2",
            "eval.freq=256",
            "eval.episodes=2",
            "eval.final_episodes=2",
            "device=cpu",
        ],
    },
}

#: Absolute paths of a machine (home, temporary and work folders) that outputs must not show.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:home|Users|tmp|work|root|private|var)/")


def parameters_cell(notebook: nbformat.NotebookNode) -> int:
    """Index of the cell tagged ``parameters``; it must be the first code cell."""
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell is tagged `parameters`"
    first_code = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
    assert tagged[0] == first_code, "the parameters cell is the first code cell"
    return tagged[0]


def assigned_names(source: str) -> set[str]:
    """Names assigned at the top level of a cell (``NAME = ...``)."""
    return set(re.findall(r"^([A-Z_][A-Z0-9_]*)\s*=", source, flags=re.MULTILINE))


def outputs_of(notebook: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """Every output of every code cell, in order."""
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """Kernel specs holding one ``python3``: this interpreter's ipykernel (a user's own
    ``python3`` spec, which Jupyter would prefer, may start another Python)."""
    folder = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(folder / "python3")
    return KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)


def test_every_notebook_has_tiny_parameters() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"
    assert {path.name for path in NOTEBOOKS} == set(TINY_PARAMETERS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_offline_on_a_tiny_budget(
    path: Path, tmp_path: Path, kernel_specs: KernelSpecManager
) -> None:
    notebook = nbformat.read(path, as_version=4)
    index = parameters_cell(notebook)
    output_dir = tmp_path / "outputs"
    tiny = {**TINY_PARAMETERS[path.name], "OUTPUT_DIR": str(output_dir)}
    # every tiny value replaces a parameter the notebook has (a renamed one would be ignored)
    assert set(tiny) <= assigned_names(notebook.cells[index].source)
    lines = [f"{name} = {value!r}" for name, value in tiny.items()]
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell("\n".join(lines)))
    client = NotebookClient(
        notebook,
        km=KernelManager(kernel_name="python3", kernel_spec_manager=kernel_specs),
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute()  # raises CellExecutionError at the first cell that fails
    assert any(output_dir.rglob("results.json")), "the runs are written under OUTPUT_DIR"
    images = [o for o in outputs_of(notebook) if "image/png" in o.get("data", {})]
    assert images, "the notebook plots inline"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_committed_notebook_carries_the_outputs_of_a_full_run(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    # executed top to bottom in one kernel session
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    outputs = outputs_of(notebook)
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert not MACHINE_PATH.search(text), MACHINE_PATH.search(text)
