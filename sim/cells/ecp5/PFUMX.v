// ECP5 PFUMX, the slice's LUT5 multiplexer: Z = C0 ? ALUT : BLUT.
module PFUMX (input ALUT, BLUT, C0, output Z);
    assign Z = C0 ? ALUT : BLUT;
endmodule
