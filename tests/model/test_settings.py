"""Which model the service runs: the embedded one unless an endpoint is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.model.weights import QWEN_0_5B, QWEN_1_5B
from agent.settings import SettingsError, load_settings


def settings(tmp_path: Path, **values: object):  # type: ignore[no-untyped-def]
    return load_settings(_env_file=None, state_dir=tmp_path, **values)


def test_nothing_configured_is_the_embedded_1_5b_sized_for_a_small_machine(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.embedded_model is QWEN_1_5B
    assert (s.resolved_model_context, s.resolved_model_max_output) == (16384, 1024)
    assert s.resolved_max_concurrent_turns == 2  # one slot of the model each
    assert s.repair_tool_text and s.model_temperature == 0.2
    assert s.resolved_turn_timeout_s == 900  # a first prompt on CPU takes minutes


def test_embedded_small_is_the_0_5b(tmp_path: Path) -> None:
    assert settings(tmp_path, model="embedded-small").embedded_model is QWEN_0_5B


def test_an_endpoint_is_used_as_it_is(tmp_path: Path) -> None:
    s = settings(tmp_path, model_base_url="http://gpu:8000/v1/", model="qwen2.5-32b")
    assert s.embedded_model is None and s.model_base_url == "http://gpu:8000/v1"
    assert (s.resolved_model_context, s.resolved_model_max_output) == (32768, 4096)
    assert s.resolved_max_concurrent_turns == 4 and s.resolved_turn_timeout_s == 300
    assert not s.repair_tool_text
    repairing = settings(
        tmp_path, model_base_url="http://gpu:8000/v1", model="m", model_tool_text="repair"
    )
    assert repairing.repair_tool_text


def test_a_model_name_without_its_endpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="MLOPS_MODEL=qwen2.5:32b needs MLOPS_MODEL_BASE_URL"):
        settings(tmp_path, model="qwen2.5:32b")


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"model_temperature": 3}, "MLOPS_MODEL_TEMPERATURE"),
        ({"model_tool_text": "maybe"}, "MLOPS_MODEL_TOOL_TEXT"),
        ({"model_threads": 0}, "MLOPS_MODEL_THREADS"),
    ],
)
def test_bad_model_settings_name_their_variable(
    tmp_path: Path, values: dict[str, object], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        settings(tmp_path, **values)
