"""The imaging_* and plot_* rule scripts are thin adapters of one shape, and a failing one ends
with the single line ``<rule>: <message>`` on the console and in its log.

Shape: a docstring "Rule <name>: ...", ``job = script_job(globals().get("snakemake"))`` (the
Snakemake job, or the saved one named on the command line), ``with rule_job(job, ...) as
logger:`` around one library call, only the job's input/output/params/log/threads/wildcards
read, under 20 lines.
"""

import ast
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "workflow" / "scripts"
RULE_SCRIPTS = sorted([*SCRIPTS.glob("imaging_*.py"), *SCRIPTS.glob("plot_*.py")])
SNAKEMAKE_FIELDS = {"input", "output", "params", "log", "threads", "wildcards"}
TORCH_SCRIPTS = {"imaging_suite2p_plane"}  # suite2p runs on torch: its threads are set too


def rule_job_block(tree: ast.Module) -> ast.With:
    """The script's two top-level statements after its imports: ``job = script_job(...)``,
    then ``with rule_job(job, ...)``."""
    body = [node for node in tree.body if not isinstance(node, (ast.Import, ast.ImportFrom))]
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)  # docstring
    assert len(body) == 3, "two statements after the imports: the job, with rule_job(job)"
    assert ast.unparse(body[1]) == "job = script_job(globals().get('snakemake'))"
    block = body[2]
    assert isinstance(block, ast.With), ast.dump(block)
    call = block.items[0].context_expr
    assert isinstance(call, ast.Call) and getattr(call.func, "id", None) == "rule_job"
    assert [ast.unparse(arg) for arg in call.args] == ["job"]
    return block


@pytest.mark.parametrize("script", RULE_SCRIPTS, ids=lambda path: path.stem)
def test_rule_script_shape(script):
    source = script.read_text()
    assert source.startswith(f'"""Rule {script.stem}: '), source.splitlines()[0]
    assert len(source.splitlines()) < 20
    tree = ast.parse(source)
    block = rule_job_block(tree)
    options = {kw.arg: ast.literal_eval(kw.value) for kw in block.items[0].context_expr.keywords}
    assert options.get("torch", True) is (script.stem in TORCH_SCRIPTS)
    assert len(block.body) == 1 and isinstance(block.body[0].value, ast.Call)
    read = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "job"
    }
    assert read <= SNAKEMAKE_FIELDS, read - SNAKEMAKE_FIELDS


class Files(list):
    """A stand-in for Snakemake's named file lists: a list whose names are attributes."""

    def __init__(self, **named):
        super().__init__(named.values())
        self.__dict__.update(named)

    def items(self):
        return self.__dict__.items()


@pytest.fixture
def restored_threads(monkeypatch):
    """rule_job sets the BLAS thread variables of the process: put them back afterwards."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(var, "1")


@pytest.mark.parametrize(
    ("rule", "inputs"),
    [
        ("plot_classification_accuracy", {"summary": "nowhere.csv"}),
        ("imaging_qc_figure", {"activity": "nowhere.h5", "metrics": "nowhere.json"}),
    ],
)
def test_failing_script_ends_with_one_line(tmp_path, capsys, restored_threads, rule, inputs):
    log = tmp_path / f"{rule}.log"
    snakemake = SimpleNamespace(
        rule=rule,
        input=Files(**{name: str(tmp_path / path) for name, path in inputs.items()}),
        output=Files(png=str(tmp_path / "out.png"), pdf=str(tmp_path / "out.pdf")),
        params=Files(dpi=80, font_size=10.0),
        log=[str(log)],
        threads=1,
        wildcards=Files(),
    )
    try:
        with pytest.raises(SystemExit) as stop:
            runpy.run_path(str(SCRIPTS / f"{rule}.py"), init_globals={"snakemake": snakemake})
    finally:
        for handler in logging.getLogger(rule).handlers:
            handler.close()
    line = str(stop.value)
    assert line.startswith(f"{rule}: {tmp_path / 'nowhere.'}") and "\n" not in line, line
    assert log.read_text().strip().splitlines()[-1].endswith(f" ERROR {line}")
    assert "Traceback" not in capsys.readouterr().err
    assert not list(tmp_path.glob("out.*"))
