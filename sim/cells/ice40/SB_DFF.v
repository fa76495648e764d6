// iCE40 flip-flop, rising edge: Q <= D.
module SB_DFF (output Q, input C, D);
    ice40_flip_flop flip_flop (Q, C, D, 1'b1, 1'b0, 1'b0);
endmodule
