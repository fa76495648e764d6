// ECP5 LUT4: Z = INIT[{D, C, B, A}]. An unknown input gives an unknown Z even where the device
// would not care, so an X never hides: the bench fails on an unknown output.
module LUT4 (input A, B, C, D, output Z);
    parameter [15:0] INIT = 16'h0000;
    assign Z = INIT[{D, C, B, A}];
endmodule
