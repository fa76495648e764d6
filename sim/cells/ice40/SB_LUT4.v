// iCE40 SB_LUT4: O = LUT_INIT[{I3, I2, I1, I0}]. An unknown input gives an unknown O even where
// the device would not care, so an X never hides: the bench fails on an unknown output.
module SB_LUT4 (output O, input I0, I1, I2, I3);
    parameter [15:0] LUT_INIT = 16'h0000;
    assign O = LUT_INIT[{I3, I2, I1, I0}];
endmodule
