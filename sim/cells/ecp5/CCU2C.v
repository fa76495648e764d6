// ECP5 CCU2C, two bits of a carry chain, for INJECT1_0 = INJECT1_1 = "NO" (what synth_ecp5
// gives; any other setting stops the simulation). Bit k: F = INITk[{Dk, Ck, Bk, Ak}] (a LUT4),
// S = F ^ carry in; carry out = F ? carry in : INITk[{Bk, Ak}] (the LUT2 on the low INIT
// bits generates the carry where F does not propagate it). CIN enters bit 0, bit 0's carry
// enters bit 1, bit 1's leaves at COUT.
module CCU2C (input CIN, A0, B0, C0, D0, A1, B1, C1, D1, output S0, S1, COUT);
    parameter [15:0] INIT0 = 16'h0000;
    parameter [15:0] INIT1 = 16'h0000;
    parameter INJECT1_0 = "YES";
    parameter INJECT1_1 = "YES";

    initial
        if (INJECT1_0 != "NO" || INJECT1_1 != "NO")
            $fatal(1, "%m: CCU2C with INJECT1_0=%0s INJECT1_1=%0s is outside this model",
                   INJECT1_0, INJECT1_1);

    wire f0 = INIT0[{D0, C0, B0, A0}];
    wire f1 = INIT1[{D1, C1, B1, A1}];
    wire carry = f0 ? CIN : INIT0[{B0, A0}];
    assign S0 = f0 ^ CIN;
    assign S1 = f1 ^ carry;
    assign COUT = f1 ? carry : INIT1[{B1, A1}];
endmodule
