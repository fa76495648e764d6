// ECP5 slice flip-flop, for the settings synth_ecp5 gives a synchronous design: clock on the
// rising edge of CLK; LSR a synchronous reset or set (REGSET) taking priority over the clock
// enable (SRMODE LSR_OVER_CE); CE used (CEMUX "CE") or always on (CEMUX "1"); the register
// holds its REGSET value from configuration. Any other setting stops the simulation.
module TRELLIS_FF (input CLK, LSR, CE, DI, M, output reg Q);
    parameter GSR = "ENABLED";
    parameter [127:0] CEMUX = "1";
    parameter CLKMUX = "CLK";
    parameter LSRMUX = "LSR";
    parameter SRMODE = "LSR_OVER_CE";
    parameter REGSET = "RESET";
    parameter [127:0] LSRMODE = "LSR";

    localparam VALUE = REGSET == "SET";
    wire enable = CEMUX == "1" ? 1'b1 : CE;

    initial begin
        if (GSR != "DISABLED" || (CEMUX != "1" && CEMUX != "CE") || CLKMUX != "CLK" ||
                LSRMUX != "LSR" || SRMODE != "LSR_OVER_CE" ||
                (REGSET != "RESET" && REGSET != "SET") || LSRMODE != "LSR")
            $fatal(1, "%m: TRELLIS_FF with GSR=%0s CEMUX=%0s CLKMUX=%0s LSRMUX=%0s SRMODE=%0s REGSET=%0s LSRMODE=%0s is outside this model",
                   GSR, CEMUX, CLKMUX, LSRMUX, SRMODE, REGSET, LSRMODE);
        Q = VALUE;
    end

    always @(posedge CLK)
        if (LSR)
            Q <= VALUE;
        else if (enable)
            Q <= DI;
endmodule
