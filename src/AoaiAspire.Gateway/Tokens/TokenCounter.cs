using System.Buffers;
using System.Text.Json;
using AoaiAspire.Backends.Tokens;

namespace AoaiAspire.Gateway.Tokens;

/// <summary>
/// Real token counts (<see cref="O200kTokens"/>, the o200k_base vocabulary of the gpt-4o family) of a request's
/// prompt. Used where no <c>usage</c> comes back (a stream whose caller refused it), never for admission: see README
/// "Tokens" for what it costs per request.
/// </summary>
internal static class TokenCounter
{
    /// <summary>Framing tokens that prime every chat reply, as OpenAI's counting guide gives.</summary>
    public const int TokensPerReply = 3;

    /// <summary>Tokens of <paramref name="text"/>.</summary>
    public static int Count(ReadOnlySpan<char> text) => O200kTokens.Count(text);

    /// <summary>The largest request body whose prompt is counted for real (256 KiB); larger ones keep the estimate.</summary>
    public const int MaxCountedBodyBytes = 256 * 1024;

    /// <summary>
    /// Prompt tokens of a chat or completions request body: the text of each message's <c>content</c> (a string or
    /// text parts) plus <see cref="TokenEstimator.TokensPerMessage"/> per message and <see cref="TokensPerReply"/>,
    /// or the text of <c>prompt</c>/<c>input</c>. Null when the body is not JSON, or larger than
    /// <see cref="MaxCountedBodyBytes"/>: a real count costs about 0.25 µs per byte (measured, README "Tokens"), so a
    /// multi-megabyte prompt would cost the gateway seconds of CPU; the caller's estimate is used instead.
    /// </summary>
    public static long? PromptTokens(ReadOnlySpan<byte> body)
    {
        if (body.Length > MaxCountedBodyBytes)
        {
            return null;
        }
        var chars = ArrayPool<char>.Shared.Rent(1024);
        try
        {
            var reader = new Utf8JsonReader(body);
            long tokens = 0, messages = 0;
            var inMessages = false;
            var messagesDepth = -1;
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName when reader.CurrentDepth == 1:
                        inMessages = reader.ValueTextEquals("messages"u8);
                        if (inMessages)
                        {
                            messagesDepth = 1;
                        }
                        else if (reader.ValueTextEquals("prompt"u8) || reader.ValueTextEquals("input"u8))
                        {
                            reader.Read();
                            tokens += CountStrings(ref reader, ref chars, textPartsOnly: false);
                        }
                        break;
                    case JsonTokenType.StartObject when inMessages && reader.CurrentDepth == messagesDepth + 1:
                        messages++;
                        break;
                    case JsonTokenType.PropertyName when inMessages && reader.CurrentDepth == messagesDepth + 2 && reader.ValueTextEquals("content"u8):
                        reader.Read();
                        tokens += CountStrings(ref reader, ref chars, textPartsOnly: true);
                        break;
                }
            }
            return messages > 0 ? tokens + (messages * TokenEstimator.TokensPerMessage) + TokensPerReply : tokens;
        }
        catch (JsonException)
        {
            return null;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    /// <summary>Counts the value the reader is at: a string, or the strings of an array (of text parts when <paramref name="textPartsOnly"/>).</summary>
    private static long CountStrings(ref Utf8JsonReader reader, ref char[] chars, bool textPartsOnly)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return CountString(ref reader, ref chars);
        }
        if (reader.TokenType is not (JsonTokenType.StartArray or JsonTokenType.StartObject))
        {
            return reader.TokenType == JsonTokenType.Number ? 1 : 0; // a token id
        }
        long tokens = 0;
        var depth = reader.CurrentDepth;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("text"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    tokens += CountString(ref reader, ref chars);
                }
            }
            else if (!textPartsOnly && reader.TokenType == JsonTokenType.String)
            {
                tokens += CountString(ref reader, ref chars);
            }
            else if (!textPartsOnly && reader.TokenType == JsonTokenType.Number)
            {
                tokens++;
            }
        }
        return tokens;
    }

    private static int CountString(ref Utf8JsonReader reader, ref char[] chars)
    {
        var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (chars.Length < length)
        {
            ArrayPool<char>.Shared.Return(chars);
            chars = ArrayPool<char>.Shared.Rent((int)length);
        }
        var written = reader.CopyString(chars);
        return Count(chars.AsSpan(0, written));
    }
}
