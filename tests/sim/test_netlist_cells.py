"""This project's cell models (``sim/cells/``) on hand-computed vectors, clock enable low and
reset included, and their stop on any setting outside them.

The cocotb tests below run in Icarus on :data:`WRAPPER`, one instance of each model with
the settings the netlists use; :func:`test_ecp5_cell_models` builds and runs them.
"""

import subprocess

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from sim.netlist import OWN_MODELS, NetlistError, cell_library
from sim.runner import build_and_test

ECP5_MODELS = sorted((OWN_MODELS / "ecp5").glob("*.v"))


def ports(name: str, bits: int, wire: str) -> str:
    """``.A0(a[0]), ...``: a bus on a cell's one-bit ports."""
    return ", ".join(f".{name}{k}({wire}[{k}])" for k in range(bits))


WRAPPER = f"""
module ecp5_cells (
    input lut_a, lut_b, lut_c, lut_d, output lut_z,
    input mux_alut, mux_blut, mux_c0, output mux_z,
    input l6_d0, l6_d1, l6_sd, output l6_z,
    input cin, input [1:0] add_a, add_b, add_c, add_d, output s0, s1, cout,
    input clk, lsr, ce, di, output q_reset_ce, q_set,
    input [3:0] ram_di, ram_wad, ram_rad, input ram_wre, output [3:0] ram_do, undefined_do,
    input [17:0] mul_a, mul_b, mul_c, input signed_a, signed_b, mul_ce, mul_rst,
    output [35:0] product, registered, output [17:0] roa, roc, output signedp
);
    LUT4 #(.INIT(16'hCA53)) lut (.A(lut_a), .B(lut_b), .C(lut_c), .D(lut_d), .Z(lut_z));
    PFUMX mux (.ALUT(mux_alut), .BLUT(mux_blut), .C0(mux_c0), .Z(mux_z));
    L6MUX21 l6 (.D0(l6_d0), .D1(l6_d1), .SD(l6_sd), .Z(l6_z));
    CCU2C #(.INIT0(16'h600A), .INIT1(16'h600A), .INJECT1_0("NO"), .INJECT1_1("NO")) adder (
        .CIN(cin), .A0(add_a[0]), .B0(add_b[0]), .C0(add_c[0]), .D0(add_d[0]),
        .A1(add_a[1]), .B1(add_b[1]), .C1(add_c[1]), .D1(add_d[1]),
        .S0(s0), .S1(s1), .COUT(cout));
    TRELLIS_FF #(.GSR("DISABLED"), .CEMUX("CE"), .CLKMUX("CLK"), .LSRMUX("LSR"),
                 .REGSET("RESET")) ff_reset_ce (.CLK(clk), .LSR(lsr), .CE(ce), .DI(di),
                                                .Q(q_reset_ce));
    TRELLIS_FF #(.GSR("DISABLED"), .CEMUX("1"), .CLKMUX("CLK"), .LSRMUX("LSR"),
                 .REGSET("SET"), .SRMODE("LSR_OVER_CE")) ff_set (.CLK(clk), .LSR(lsr), .DI(di),
                                                                 .Q(q_set));
    TRELLIS_DPR16X4 #(.INITVAL(64'h0123456789ABCDEF), .WCKMUX("WCK"), .WREMUX("WRE")) ram (
        .DI(ram_di), .WAD(ram_wad), .WRE(ram_wre), .WCK(clk), .RAD(ram_rad), .DO(ram_do));
    TRELLIS_DPR16X4 #(.INITVAL(64'hxxxxxxxx00000000)) undefined (
        .DI(4'd0), .WAD(4'd0), .WRE(1'b0), .WCK(clk), .RAD(ram_rad), .DO(undefined_do));
    MULT18X18D multiplier (
        {ports("A", 18, "mul_a")}, {ports("B", 18, "mul_b")}, {ports("C", 18, "mul_c")},
        .SIGNEDA(signed_a), .SIGNEDB(signed_b), .SOURCEA(1'b0), .SOURCEB(1'b0),
        {ports("P", 36, "product")}, {ports("ROA", 18, "roa")}, {ports("ROC", 18, "roc")},
        .SIGNEDP(signedp));
    MULT18X18D #(.REG_OUTPUT_CLK("CLK0"), .REG_OUTPUT_CE("CE0"), .REG_OUTPUT_RST("RST0"))
        registered_multiplier (
        {ports("A", 18, "mul_a")}, {ports("B", 18, "mul_b")},
        .SIGNEDA(signed_a), .SIGNEDB(signed_b), .SOURCEA(1'b0), .SOURCEB(1'b0),
        .CLK0(clk), .CE0(mul_ce), .RST0(mul_rst), {ports("P", 36, "registered")});
endmodule
"""


async def settle():
    await Timer(1, unit="ns")


def drive(dut, **values):
    for name, value in values.items():
        getattr(dut, name).value = value


@cocotb.test(timeout_time=1, timeout_unit="us")
async def values_from_configuration(dut):
    """Before any clock edge (the first test: the others run clocks)."""
    await settle()
    assert (dut.q_reset_ce.value, dut.q_set.value) == (0, 1)    # TRELLIS_FF: REGSET
    assert dut.registered.value == 0                            # MULT18X18D output register


@cocotb.test(timeout_time=1, timeout_unit="us")
async def lut4_and_multiplexers(dut):
    # LUT4 INIT 16'hCA53: Z is bit {D, C, B, A} of 1100_1010_0101_0011
    for (d, c, b, a), z in [((0, 0, 0, 0), 1), ((0, 0, 1, 0), 0), ((0, 1, 0, 1), 0),
                            ((1, 0, 0, 1), 1), ((1, 1, 0, 0), 0), ((1, 1, 1, 1), 1)]:
        drive(dut, lut_a=a, lut_b=b, lut_c=c, lut_d=d)
        await settle()
        assert dut.lut_z.value == z, (d, c, b, a)
    for (alut, blut, select), z in [((1, 0, 1), 1), ((1, 0, 0), 0), ((0, 1, 0), 1),
                                    ((0, 1, 1), 0)]:
        drive(dut, mux_alut=alut, mux_blut=blut, mux_c0=select,
              l6_d1=alut, l6_d0=blut, l6_sd=select)
        await settle()
        assert (dut.mux_z.value, dut.l6_z.value) == (z, z), (alut, blut, select)


@cocotb.test(timeout_time=1, timeout_unit="us")
async def ccu2c_adds_two_bits(dut):
    # INIT 16'h600A with C = D = 1: F = A ^ B (bits 15:12 = 0110), the LUT2 (bits 3:0 = 1010)
    # generates A: {COUT, S1, S0} = a + b + CIN
    for a, b, carry, total in [(3, 1, 0, 4), (2, 1, 1, 4), (0, 0, 1, 1), (1, 1, 0, 2),
                               (3, 3, 1, 7), (2, 0, 0, 2)]:
        drive(dut, add_a=a, add_b=b, add_c=3, add_d=3, cin=carry)
        await settle()
        got = (dut.cout.value, dut.s1.value, dut.s0.value)
        assert got == ((total >> 2) & 1, (total >> 1) & 1, total & 1), (a, b, carry)
    # bit 0 with C = D = 0: F = A (bits 3:0), so S0 = A0 ^ CIN and its carry is A0 & CIN;
    # bit 1 (C = D = 1, A = B = 0) passes it: S1 = 1, COUT = its LUT2 at A = B = 0 = 0
    drive(dut, add_a=1, add_b=0, add_c=2, add_d=2, cin=1)
    await settle()
    assert (dut.s0.value, dut.s1.value, dut.cout.value) == (0, 1, 0)


@cocotb.test(timeout_time=1, timeout_unit="us")
async def trellis_ff_enable_and_reset(dut):
    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    # (lsr, ce, di) before a rising edge -> (q_reset_ce, q_set) after it
    for (lsr, ce, di), after in [((0, 1, 1), (1, 1)),    # loads
                                 ((0, 0, 0), (1, 0)),    # CE low holds; CEMUX "1" loads
                                 ((1, 0, 0), (0, 1)),    # LSR over a low CE
                                 ((1, 1, 1), (0, 1)),    # LSR over a high CE
                                 ((0, 1, 0), (0, 0))]:
        await FallingEdge(dut.clk)
        before = (dut.q_reset_ce.value, dut.q_set.value)
        drive(dut, lsr=lsr, ce=ce, di=di)
        await settle()
        assert (dut.q_reset_ce.value, dut.q_set.value) == before   # only at the edge
        await RisingEdge(dut.clk)
        await settle()
        assert (dut.q_reset_ce.value, dut.q_set.value) == after, (lsr, ce, di)


@cocotb.test(timeout_time=1, timeout_unit="us")
async def dpr16x4_writes_on_the_edge_reads_at_once(dut):
    # INITVAL 64'h0123456789ABCDEF: word i is nibble i, word 0 = F ... word 15 = 0
    drive(dut, ram_wre=0, ram_wad=5, ram_di=3)
    for address, word in [(0, 0xF), (5, 0xA), (15, 0x0), (9, 0x6)]:
        dut.ram_rad.value = address
        await settle()
        assert dut.ram_do.value == word, address
        # the undefined words (8..15) of the other read 0, as in the bitstream
        assert dut.undefined_do.value == 0, address
    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    dut.ram_rad.value = 5
    await RisingEdge(dut.clk)               # WRE low: no write
    await settle()
    assert dut.ram_do.value == 0xA
    await FallingEdge(dut.clk)
    dut.ram_wre.value = 1
    await settle()
    assert dut.ram_do.value == 0xA          # the old word until the edge
    await RisingEdge(dut.clk)
    await settle()
    assert dut.ram_do.value == 0x3
    await FallingEdge(dut.clk)
    drive(dut, ram_wad=6, ram_di=0xC)
    await RisingEdge(dut.clk)
    await settle()
    assert dut.ram_do.value == 0x3          # another word written
    dut.ram_rad.value = 6
    await settle()
    assert dut.ram_do.value == 0xC


@cocotb.test(timeout_time=1, timeout_unit="us")
async def mult18x18d_products(dut):
    # (A, B as 18-bit codes, SIGNEDA, SIGNEDB) -> P, 36 bits
    for a, b, signed_a, signed_b, product in [
            (0x3FFFD, 5, 1, 1, 0xFFFFFFFF1),            # -3 * 5 = -15
            (0x20000, 0x20000, 1, 1, 0x400000000),      # -131072 * -131072 = 2**34
            (0x3FFFF, 2, 0, 1, 0x7FFFE),                # 262143 * 2
            (0x3FFFF, 0x3FFFF, 0, 0, 0xFFFF80001),      # 262143**2
            (0x3FFFF, 0x3FFFF, 1, 0, 0xFFFFC0001)]:     # -1 * 262143
        drive(dut, mul_a=a, mul_b=b, mul_c=0x2AAAA, signed_a=signed_a, signed_b=signed_b)
        await settle()
        assert dut.product.value == product, (a, b, signed_a, signed_b)
        assert (dut.roa.value, dut.roc.value) == (a, 0x2AAAA)
        assert dut.signedp.value == signed_a | signed_b


@cocotb.test(timeout_time=1, timeout_unit="us")
async def mult18x18d_output_register(dut):
    drive(dut, signed_a=1, signed_b=1)
    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    # (A, B, CE0, RST0) before a rising edge -> P after it
    for (a, b, ce, rst), after in [((7, 0x3FFFE, 1, 0), 0xFFFFFFFF2),   # 7 * -2
                                   ((100, 3, 0, 0), 0xFFFFFFFF2),       # CE0 low holds
                                   ((100, 3, 0, 1), 0),                 # RST0 over CE0
                                   ((100, 3, 1, 1), 0),
                                   ((100, 3, 1, 0), 300)]:
        await FallingEdge(dut.clk)
        before = dut.registered.value
        drive(dut, mul_a=a, mul_b=b, mul_ce=ce, mul_rst=rst)
        await settle()
        assert dut.registered.value == before
        await RisingEdge(dut.clk)
        await settle()
        assert dut.registered.value == after, (a, b, ce, rst)


@pytest.mark.sim
def test_ecp5_cell_models(tmp_path):
    wrapper = tmp_path / "ecp5_cells.v"
    wrapper.write_text(WRAPPER)
    build_and_test([wrapper, *ECP5_MODELS], "ecp5_cells", __name__, tmp_path)


@pytest.mark.sim
@pytest.mark.parametrize("cell, instance", [
    ("TRELLIS_FF", 'TRELLIS_FF #(.GSR("DISABLED"), .SRMODE("ASYNC")) dut (.CLK(1\'b0));'),
    ("TRELLIS_FF", 'TRELLIS_FF #(.GSR("DISABLED"), .CEMUX("INV")) dut (.CLK(1\'b0));'),
    ("CCU2C", 'CCU2C #(.INJECT1_0("YES"), .INJECT1_1("NO")) dut (.CIN(1\'b0));'),
    ("TRELLIS_DPR16X4", 'TRELLIS_DPR16X4 #(.WCKMUX("INV")) dut (.WCK(1\'b0));'),
    ("MULT18X18D", 'MULT18X18D #(.REG_INPUTA_CLK("CLK0")) dut (.CLK0(1\'b0));'),
    ("MULT18X18D", 'MULT18X18D #(.REG_OUTPUT_CLK("CLK1")) dut (.CLK1(1\'b0));'),
    ("MULT18X18D", 'MULT18X18D #(.RESETMODE("ASYNC")) dut (.CLK0(1\'b0));'),
    ("MULT18X18D", "MULT18X18D dut (.SOURCEA(1'b1), .SOURCEB(1'b0));"),
])
def test_a_setting_outside_a_model_stops_the_simulation(cell, instance, tmp_path):
    top = tmp_path / "top.v"
    top.write_text(f"module top; {instance} initial #10 $finish; endmodule\n")
    compiled = tmp_path / "top.vvp"
    subprocess.run(["iverilog", "-g2005", "-s", "top", "-o", str(compiled), str(top),
                    *map(str, ECP5_MODELS)], check=True, capture_output=True, timeout=60)
    run = subprocess.run(["vvp", "-n", str(compiled)], check=False, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0
    assert f"{cell} " in run.stdout and "outside this model" in run.stdout, run.stdout


def test_every_cell_needs_a_model():
    assert cell_library("ecp5", {"LUT4", "CCU2C", "MULT18X18D"})
    iverilog_args = cell_library("ice40", {"SB_LUT4", "SB_MAC16", "SB_RAM40_4K"})
    assert "-DNO_ICE40_DEFAULT_ASSIGNMENTS=1" in iverilog_args
    with pytest.raises(NetlistError, match="ecp5 cells DP16KD, EHXPLLL in the netlist"):
        cell_library("ecp5", {"LUT4", "EHXPLLL", "DP16KD"})
