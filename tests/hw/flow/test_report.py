"""The build report's figures read from nextpnr's --report JSON."""

import pytest

from hw.flow import report


def step(kind: str, delay: float, start: str, end: str) -> dict:
    return {"type": kind, "delay": delay, "from": {"cell": start, "port": "Q"},
            "to": {"cell": end, "port": "D"}}


def test_critical_path_is_the_longest_register_to_register_path():
    paths = [
        {"from": "posedge clk", "to": "posedge clk",
         "path": [step("clk-to-q", 0.5, "a", "a"), step("routing", 2.0, "a", "b"),
                  step("logic", 0.4, "b", "b"), step("routing", 1.5, "b", "c"),
                  step("setup", 0.1, "c", "c")]},
        {"from": "posedge clk", "to": "<async>",
         "path": [step("clk-to-q", 0.5, "x", "x"), step("routing", 30.0, "x", "pin")]},
        {"from": "posedge slow", "to": "posedge slow",
         "path": [step("clk-to-q", 0.5, "s", "s"), step("logic", 1.0, "s", "t")]},
    ]
    assert report.critical_path(paths) == {
        "from": "a.Q", "to": "c.D", "clock": "posedge clk", "delay_ns": 4.5,
        "logic_ns": 1.0, "routing_ns": 3.5}
    crossing = dict(paths[2], to="posedge clk")
    assert report.critical_path([crossing])["clock"] == "posedge slow -> posedge clk"
    assert report.critical_path(paths[1:2]) is None


def test_timing_per_clock():
    assert report.timing({"clk": {"achieved": 99.9996, "constraint": 100.0}}) == {
        "clk": {"target_mhz": 100.0, "achieved_mhz": 100.0, "met": False}}
    assert report.timing({"clk": {"achieved": 101.0, "constraint": 100.0}})["clk"]["met"]


@pytest.mark.parametrize("family, cells", [("ecp5", "TRELLIS_COMB"), ("ice40", "ICESTORM_LC")])
def test_resources_count_flip_flops_from_the_netlist(family, cells):
    table = report.resources(family, {cells: {"used": 10, "available": 100}}, netlist_ff=7)
    assert table["LUT"] == {"used": 10, "available": 100, "cell": cells}
    assert table["FF"]["used"] == 7
    assert table["DSP"]["used"] == 0 and table["BRAM"]["available"] == 0
