using System.Text.Json;
using AoaiAspire.Gateway.Tokens;

namespace AoaiAspire.Gateway.Realtime;

/// <summary>Reads the usage a realtime <c>response.done</c> event carries (<c>response.usage.input_tokens</c>, <c>output_tokens</c>).</summary>
internal static class RealtimeUsage
{
    /// <summary>Bytes at the start of a server event looked at to tell a <c>response.done</c> from the rest.</summary>
    public const int HeadSize = 128;

    /// <summary>True when the first bytes of an event may be a <c>response.done</c> (a cheap test before the full read).</summary>
    public static bool MayBeResponseDone(ReadOnlySpan<byte> head) => head.IndexOf("\"response.done\""u8) >= 0;

    /// <summary>Reads a whole event; true with the usage when it is a <c>response.done</c> that carries one.</summary>
    public static bool TryRead(ReadOnlySpan<byte> json, out Usage usage)
    {
        usage = default;
        var reader = new Utf8JsonReader(json);
        var isDone = false;
        long input = -1, output = 0;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }
                var depth = reader.CurrentDepth;
                if (depth == 1)
                {
                    if (reader.ValueTextEquals("type"u8))
                    {
                        reader.Read();
                        isDone = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("response.done"u8);
                        if (!isDone)
                        {
                            return false;
                        }
                    }
                    else if (!reader.ValueTextEquals("response"u8))
                    {
                        reader.Read();
                        reader.Skip();
                    }
                    continue;
                }
                if (depth == 2 && !reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    reader.Skip();
                    continue;
                }
                if (depth == 3)
                {
                    var isInput = reader.ValueTextEquals("input_tokens"u8);
                    var isOutput = !isInput && reader.ValueTextEquals("output_tokens"u8);
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number && (isInput || isOutput) && reader.TryGetInt64(out var n) && n >= 0)
                    {
                        if (isInput)
                        {
                            input = n;
                        }
                        else
                        {
                            output = n;
                        }
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
        }
        catch (JsonException)
        {
            return false;
        }
        if (!isDone || input < 0)
        {
            return false;
        }
        usage = new Usage(input, output);
        return true;
    }
}
