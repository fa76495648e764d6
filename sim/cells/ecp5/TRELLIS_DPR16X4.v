// ECP5 distributed RAM, 16 words of 4 bits: written on the rising edge of WCK while WRE is high
// (WCKMUX "WCK", WREMUX "WRE"), read asynchronously at RAD; word i starts as INITVAL[4i+3:4i],
// where a bit Yosys leaves undefined (a word past the memory's depth) is 0, as nextpnr writes
// it into the bitstream. Any other setting stops the simulation.
module TRELLIS_DPR16X4 (input [3:0] DI, input [3:0] WAD, input WRE, WCK, input [3:0] RAD,
                        output [3:0] DO);
    parameter WCKMUX = "WCK";
    parameter WREMUX = "WRE";
    parameter [63:0] INITVAL = 64'h0000000000000000;

    reg [3:0] words [0:15];
    integer i, b;
    initial begin
        if (WCKMUX != "WCK" || WREMUX != "WRE")
            $fatal(1, "%m: TRELLIS_DPR16X4 with WCKMUX=%0s WREMUX=%0s is outside this model",
                   WCKMUX, WREMUX);
        for (i = 0; i < 16; i = i + 1)
            for (b = 0; b < 4; b = b + 1)
                words[i][b] = INITVAL[4 * i + b] === 1'b1;
    end

    always @(posedge WCK)
        if (WRE)
            words[WAD] <= DI;
    assign DO = words[RAD];
endmodule
