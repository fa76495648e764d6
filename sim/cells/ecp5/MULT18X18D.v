// ECP5 sysDSP 18x18 multiplier, for the settings this project's netlists use: no input or pipeline
// register, the output register used (REG_OUTPUT_CLK "CLK0", clock enable CE0, reset RST0) or
// not ("NONE"); operands from A and B (SOURCEA and SOURCEB low), each signed when its SIGNED
// input is high. Per Lattice's ECP5 sysDSP documentation and simulation library: P is the
// 36-bit product; the output register loads on the rising edge of CLK0 while CE0 is high, a
// high RST0 clears it on that edge (RESETMODE "SYNC", over the clock enable), and it holds 0
// from configuration. ROA/SROA, ROB/SROB and ROC pass A, B and C through; SIGNEDP is
// SIGNEDA | SIGNEDB. Any other setting, or SOURCEA/SOURCEB high, stops the simulation.
module MULT18X18D (
    input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0,
    input SRIA17, SRIA16, SRIA15, SRIA14, SRIA13, SRIA12, SRIA11, SRIA10, SRIA9, SRIA8, SRIA7, SRIA6, SRIA5, SRIA4, SRIA3, SRIA2, SRIA1, SRIA0,
    input SRIB17, SRIB16, SRIB15, SRIB14, SRIB13, SRIB12, SRIB11, SRIB10, SRIB9, SRIB8, SRIB7, SRIB6, SRIB5, SRIB4, SRIB3, SRIB2, SRIB1, SRIB0,
    output SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0,
    output SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0,
    output ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0,
    output ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0,
    output ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0,
    output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0,
    output SIGNEDP
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_INPUTC_CE = "CE0";
    parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED";
    parameter CLK1_DIV = "ENABLED";
    parameter CLK2_DIV = "ENABLED";
    parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED";
    parameter RESETMODE = "SYNC";

    localparam REGISTERED = REG_OUTPUT_CLK == "CLK0";
    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    wire [35:0] product = {{18{SIGNEDA & a[17]}}, a} * {{18{SIGNEDB & b[17]}}, b};
    reg [35:0] registered;

    initial begin
        if (REG_INPUTA_CLK != "NONE" || REG_INPUTB_CLK != "NONE" || REG_INPUTC_CLK != "NONE" ||
                REG_PIPELINE_CLK != "NONE" || (REG_OUTPUT_CLK != "NONE" && !REGISTERED) ||
                REG_OUTPUT_CE != "CE0" || REG_OUTPUT_RST != "RST0" || RESETMODE != "SYNC" ||
                REG_INPUTA_CE != "CE0" || REG_INPUTA_RST != "RST0" ||
                REG_INPUTB_CE != "CE0" || REG_INPUTB_RST != "RST0" ||
                REG_INPUTC_CE != "CE0" || REG_INPUTC_RST != "RST0" ||
                REG_PIPELINE_CE != "CE0" || REG_PIPELINE_RST != "RST0" ||
                CLK0_DIV != "ENABLED" || CLK1_DIV != "ENABLED" || CLK2_DIV != "ENABLED" ||
                CLK3_DIV != "ENABLED" || HIGHSPEED_CLK != "NONE" || GSR != "ENABLED" ||
                CAS_MATCH_REG != "FALSE" || SOURCEB_MODE != "B_SHIFT" || MULT_BYPASS != "DISABLED")
            $fatal(1, "%m: MULT18X18D with REG_INPUTA_CLK=%0s REG_INPUTB_CLK=%0s REG_INPUTC_CLK=%0s REG_PIPELINE_CLK=%0s REG_OUTPUT_CLK=%0s REG_OUTPUT_CE=%0s REG_OUTPUT_RST=%0s RESETMODE=%0s GSR=%0s MULT_BYPASS=%0s (or another non-default setting) is outside this model",
                   REG_INPUTA_CLK, REG_INPUTB_CLK, REG_INPUTC_CLK, REG_PIPELINE_CLK, REG_OUTPUT_CLK,
                   REG_OUTPUT_CE, REG_OUTPUT_RST, RESETMODE, GSR, MULT_BYPASS);
        registered = 36'd0;
    end

    task check_sources;
        if (SOURCEA === 1'b1 || SOURCEB === 1'b1)
            $fatal(1, "%m: MULT18X18D operands from the shift chain (SOURCEA=%b SOURCEB=%b) are outside this model",
                   SOURCEA, SOURCEB);
    endtask
    // once the constants tied to them have settled, and on every change after that
    initial #1 check_sources;
    always @(SOURCEA or SOURCEB) check_sources;

    always @(posedge CLK0)
        if (RST0)
            registered <= 36'd0;
        else if (CE0)
            registered <= product;

    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = REGISTERED ? registered : product;
    assign {ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0} = a;
    assign {SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0} = a;
    assign {ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0} = b;
    assign {SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0} = b;
    assign {ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0} = {C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0};
    assign SIGNEDP = SIGNEDA | SIGNEDB;
endmodule
