// ECP5 L6MUX21, the multiplexer joining two slices into a LUT6 and wider: Z = SD ? D1 : D0.
module L6MUX21 (input D0, D1, SD, output Z);
    assign Z = SD ? D1 : D0;
endmodule
