// iCE40 flip-flop with clock enable: Q <= D on a rising edge while E is high.
module SB_DFFE (output Q, input C, E, D);
    ice40_flip_flop flip_flop (Q, C, D, E, 1'b0, 1'b0);
endmodule
