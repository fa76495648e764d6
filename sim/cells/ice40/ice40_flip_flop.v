// The iCE40 logic cell's flip-flop as a table, which Icarus evaluates without a process:
// on a rising edge of C, while E is high, Q becomes 0 if R is high, else 1 if S is high, else D;
// otherwise Q holds. Q is 0 from configuration. A clock leaving or reaching X (a bench's clock
// starting, before the inputs are driven) is no edge: the device's clock has none.
primitive ice40_flip_flop (Q, C, D, E, R, S);
    output Q;
    reg Q;
    input C, D, E, R, S;
    initial Q = 1'b0;
    table
    //  C  D  E  R  S  :  Q  :  Q+
      (01) ?  0  ?  ?  :  ?  :  - ;
      (01) ?  1  1  ?  :  ?  :  0 ;
      (01) ?  1  0  1  :  ?  :  1 ;
      (01) 0  1  0  0  :  ?  :  0 ;
      (01) 1  1  0  0  :  ?  :  1 ;
      (x1) ?  ?  ?  ?  :  ?  :  - ;
      (0x) ?  ?  ?  ?  :  ?  :  - ;
        n  ?  ?  ?  ?  :  ?  :  - ;
        ?  *  ?  ?  ?  :  ?  :  - ;
        ?  ?  *  ?  ?  :  ?  :  - ;
        ?  ?  ?  *  ?  :  ?  :  - ;
        ?  ?  ?  ?  *  :  ?  :  - ;
    endtable
endprimitive
