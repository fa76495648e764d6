// iCE40 flip-flop with synchronous set: on a rising edge, Q <= S ? 1 : D.
module SB_DFFSS (output Q, input C, S, D);
    ice40_flip_flop flip_flop (Q, C, D, 1'b1, 1'b0, S);
endmodule
