// iCE40 flip-flop with clock enable and synchronous set: on a rising edge while E is high,
// Q <= S ? 1 : D (the set waits for the enable, as on the device).
module SB_DFFESS (output Q, input C, E, S, D);
    ice40_flip_flop flip_flop (Q, C, D, E, 1'b0, S);
endmodule
