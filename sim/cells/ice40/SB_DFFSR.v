// iCE40 flip-flop with synchronous reset: on a rising edge, Q <= R ? 0 : D.
module SB_DFFSR (output Q, input C, R, D);
    ice40_flip_flop flip_flop (Q, C, D, 1'b1, R, 1'b0);
endmodule
