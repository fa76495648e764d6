"""UART line driver and receiver for amaranth.sim testbenches (bit level, exact timing)."""


def bits_of(byte: int, stop: int = 1) -> list:
    return [0, *((byte >> i) & 1 for i in range(8)), stop]


async def send(ctx, line, data: bytes, bit_cycles: int, *, gap_bits: int = 0):
    """Drive ``data`` onto ``line`` as 8N1, ``gap_bits`` idle bits after each byte."""
    for byte in data:
        for bit in bits_of(byte) + [1] * gap_bits:
            ctx.set(line, bit)
            await ctx.tick().repeat(bit_cycles)


async def receive(ctx, line, count: int, bit_cycles: int, *, timeout: int = 1_000_000) -> bytes:
    """Read ``count`` 8N1 bytes from ``line``, sampling every bit in its middle."""
    data = bytearray()
    for _ in range(count):
        waited = 0
        while ctx.get(line):
            await ctx.tick()
            waited += 1
            assert waited < timeout, f"no start bit within {timeout} cycles ({bytes(data)!r})"
        await ctx.tick().repeat(bit_cycles // 2)
        bits = [ctx.get(line)]
        for _ in range(9):  # ends in the middle of the stop bit, before the next start bit
            await ctx.tick().repeat(bit_cycles)
            bits.append(ctx.get(line))
        assert bits[0] == 0 and bits[9] == 1, f"bad start/stop bits {bits}"
        data.append(sum(bit << i for i, bit in enumerate(bits[1:9])))
    return bytes(data)
