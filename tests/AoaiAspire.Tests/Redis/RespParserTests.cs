using System.Buffers;
using System.Text;
using AoaiAspire.Backends.Redis;

namespace AoaiAspire.Tests.Redis;

public sealed class RespParserTests
{
    // One stream holding every reply kind, including nesting and nulls, and its expected values.
    private const string Stream =
        "+OK\r\n" +
        "-ERR unknown command 'FOO'\r\n" +
        ":0\r\n" +
        ":-42\r\n" +
        ":9223372036854775807\r\n" +
        "$5\r\nhello\r\n" +
        "$0\r\n\r\n" +
        "$-1\r\n" +
        "$4\r\na\r\nb\r\n" +
        "*-1\r\n" +
        "*0\r\n" +
        "*3\r\n$3\r\nfoo\r\n:7\r\n*2\r\n$-1\r\n*1\r\n+deep\r\n" +
        "+h\u00e9llo\r\n";

    private static readonly RedisResult[] Expected =
    [
        RedisResult.SimpleString("OK"),
        RedisResult.Error("ERR unknown command 'FOO'"),
        RedisResult.Integer(0),
        RedisResult.Integer(-42),
        RedisResult.Integer(long.MaxValue),
        RedisResult.BulkString("hello"u8.ToArray()),
        RedisResult.BulkString([]),
        RedisResult.Null,
        RedisResult.BulkString("a\r\nb"u8.ToArray()),
        RedisResult.Null,
        RedisResult.Array([]),
        RedisResult.Array(
        [
            RedisResult.BulkString("foo"u8.ToArray()),
            RedisResult.Integer(7),
            RedisResult.Array([RedisResult.Null, RedisResult.Array([RedisResult.SimpleString("deep")])]),
        ]),
        RedisResult.SimpleString("h\u00e9llo"),
    ];

    [Fact]
    public void TryRead_WholeStream_ReadsEveryReply()
    {
        var replies = ParseAll(Split(Encoding.UTF8.GetBytes(Stream), [int.MaxValue]));
        Assert.Equal(Expected, replies);
    }

    [Fact]
    public void TryRead_FedByteByByte_ReadsEveryReply()
    {
        var bytes = Encoding.UTF8.GetBytes(Stream);
        var replies = ParseIncrementally(bytes, Enumerable.Repeat(1, bytes.Length).ToArray());
        Assert.Equal(Expected, replies);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(42)]
    [InlineData(1234)]
    public void TryRead_FedInRandomChunks_ReadsEveryReply(int seed)
    {
        var bytes = Encoding.UTF8.GetBytes(Stream);
        var random = new Random(seed);
        var chunks = new List<int>();
        for (var total = 0; total < bytes.Length;)
        {
            var size = random.Next(1, 12);
            chunks.Add(size);
            total += size;
        }

        Assert.Equal(Expected, ParseIncrementally(bytes, [.. chunks]));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(99)]
    public void TryRead_MultiSegmentBuffers_ReadsEveryReply(int seed)
    {
        // Whole stream present, but spread over many small segments (a pipe's buffer list).
        var bytes = Encoding.UTF8.GetBytes(Stream);
        var random = new Random(seed);
        var sizes = new List<int>();
        for (var total = 0; total < bytes.Length;)
        {
            var size = random.Next(1, 6);
            sizes.Add(size);
            total += size;
        }

        Assert.Equal(Expected, ParseAll(Split(bytes, [.. sizes])));
    }

    [Theory]
    [InlineData("+OK")]
    [InlineData("+OK\r")]
    [InlineData(":12")]
    [InlineData("$5\r\nhel")]
    [InlineData("$5\r\nhello")]
    [InlineData("$5\r\nhello\r")]
    [InlineData("*2\r\n:1\r\n")]
    [InlineData("*2\r\n*1\r\n$1\r\nx\r\n")]
    [InlineData("")]
    public void TryRead_IncompleteReply_ReturnsFalseAndDoesNotAdvance(string partial)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(partial)));
        Assert.False(RespParser.TryRead(ref reader, out _));
        Assert.Equal(0, reader.Consumed);
    }

    [Theory]
    [InlineData("!oops\r\n")]
    [InlineData(":12a\r\n")]
    [InlineData(":\r\n")]
    [InlineData("$-2\r\n")]
    [InlineData("$3\r\nabcXY")]
    [InlineData("*-5\r\n")]
    public void TryRead_Malformed_ThrowsProtocolException(string bytes)
    {
        Assert.Throws<RedisProtocolException>(() =>
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(bytes)));
            RespParser.TryRead(ref reader, out _);
        });
    }

    [Fact]
    public void TryRead_LargeBulkString_ReadsExactBytes()
    {
        var payload = new byte[100_000];
        new Random(5).NextBytes(payload);
        var frame = Encoding.ASCII.GetBytes($"${payload.Length}\r\n").Concat(payload).Concat("\r\n"u8.ToArray()).ToArray();
        var replies = ParseIncrementally(frame, [frame.Length / 3, frame.Length / 3, frame.Length]);
        Assert.Equal(payload, Assert.Single(replies).AsBytes());
    }

    [Fact]
    public void Write_Command_EncodesArrayOfBulkStrings()
    {
        var output = new ArrayBufferWriter<byte>();
        RespWriter.Write(output, "SET", ["k\u00e9", 12L, new byte[] { 1, 2 }, -3, 1.5]);
        var expected = "*6\r\n$3\r\nSET\r\n$3\r\nk\u00e9\r\n$2\r\n12\r\n$2\r\n\u0001\u0002\r\n$2\r\n-3\r\n$3\r\n1.5\r\n";
        Assert.Equal(expected, Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void Validate_UnsupportedArgument_Throws()
    {
        Assert.Throws<ArgumentException>(() => RespWriter.Validate("SET", ["k", new object()]));
        Assert.Throws<ArgumentException>(() => RespWriter.Validate("SET", ["k", null!]));
    }

    // Simulates a pipe: bytes arrive in chunks; unconsumed bytes are kept and retried with the next chunk.
    private static List<RedisResult> ParseIncrementally(byte[] bytes, int[] chunkSizes)
    {
        var replies = new List<RedisResult>();
        var pending = new List<byte>();
        var offset = 0;
        var chunk = 0;
        while (offset < bytes.Length)
        {
            var size = Math.Min(chunkSizes[chunk++ % chunkSizes.Length], bytes.Length - offset);
            pending.AddRange(bytes.AsSpan(offset, size).ToArray());
            offset += size;

            var buffer = new ReadOnlySequence<byte>(pending.ToArray());
            var reader = new SequenceReader<byte>(buffer);
            while (RespParser.TryRead(ref reader, out var reply))
            {
                replies.Add(reply);
            }

            pending.RemoveRange(0, (int)reader.Consumed);
        }

        Assert.Empty(pending);
        return replies;
    }

    private static List<RedisResult> ParseAll(ReadOnlySequence<byte> buffer)
    {
        var replies = new List<RedisResult>();
        var reader = new SequenceReader<byte>(buffer);
        while (RespParser.TryRead(ref reader, out var reply))
        {
            replies.Add(reply);
        }

        Assert.True(reader.End);
        return replies;
    }

    private static ReadOnlySequence<byte> Split(byte[] bytes, int[] sizes)
    {
        Segment? first = null, last = null;
        var offset = 0;
        var i = 0;
        while (offset < bytes.Length)
        {
            var size = Math.Min(sizes[i++ % sizes.Length], bytes.Length - offset);
            var memory = bytes.AsMemory(offset, size);
            offset += size;
            if (first is null)
            {
                first = last = new Segment(memory, 0);
            }
            else
            {
                last = last!.Append(memory);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
