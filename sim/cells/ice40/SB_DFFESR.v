// iCE40 flip-flop with clock enable and synchronous reset: on a rising edge while E is high,
// Q <= R ? 0 : D (the reset waits for the enable, as on the device).
module SB_DFFESR (output Q, input C, E, R, D);
    ice40_flip_flop flip_flop (Q, C, D, E, R, 1'b0);
endmodule
