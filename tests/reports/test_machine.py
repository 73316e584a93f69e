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


def test_the_cpu_is_named_with_its_family_and_model(tmp_path):
    # two VMs may both say "AMD EPYC" and be generations apart: the numbers tell them apart
    block = "processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {m}\n"
    block += "model name\t: AMD EPYC\nflags\t\t: fpu\n\n"
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(block.format(n=0, m=17) + block.format(n=1, m=99))
    assert cpu_model(cpuinfo) == "AMD EPYC family 25 model 17"  # the first processor's
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\n")
    assert cpu_model(cpuinfo) == "Some CPU"
    assert cpu_model(tmp_path / "missing")  # the platform's string instead
