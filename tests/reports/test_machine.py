"""The machine description in benchmark headers (rl_lab.reports.machine)."""

import json

from rl_lab.reports.machine import cpu_model, describe_machine, machine_info


def test_machine_info_is_json_ready_and_described_in_one_line():
    info = machine_info()
    assert json.loads(json.dumps(info)) == info
    assert info["cpu"] == cpu_model() and info["cpu"]
    assert 1 <= info["usable_cores"] <= info["cores"]
    line = describe_machine(info)
    assert "\n" not in line
    assert f"{info['cores']} cores" in line and f"torch {info['torch']}" in line
    assert info["date"][:10] in line
    same = {**info, "usable_cores": info["cores"]}
    fewer = {**info, "cores": 64, "usable_cores": 2}
    assert "usable" not in describe_machine(same) and "64 cores, 2 usable" in describe_machine(
        fewer
    )
