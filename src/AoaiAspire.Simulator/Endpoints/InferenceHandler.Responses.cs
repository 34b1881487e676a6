using System.Buffers;
using System.Text.Json;
using AoaiAspire.Simulator.Completions;
using AoaiAspire.Simulator.Latency;
using AoaiAspire.Simulator.RateLimiting;
using AoaiAspire.Simulator.Responses;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AoaiAspire.Simulator.Endpoints;

/// <summary>
/// The Responses API (<c>/openai/v1/responses</c>, and the preview path <c>/openai/responses</c>): create (JSON or an
/// event stream), retrieve, delete, cancel, input items. Responses are stored in the account that made them, so a
/// follow-up or a retrieval sent to another account is a 404, as it is between two Azure OpenAI resources.
/// Creates go through the same admission, faults and rate limits as chat completions.
/// </summary>
internal sealed partial class InferenceHandler
{
    private const string ResponsesOperationId = "Responses_Create";

    /// <summary><c>POST …/responses</c>.</summary>
    public async Task HandleCreateResponseAsync(HttpContext context)
    {
        if (await AdmitAsync(context, HttpMethods.Post) is not { } account)
        {
            return;
        }
        var faults = account.Faults;
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
        }
        catch (JsonException)
        {
            await WriteInvalidRequestAsync(context, 400, null, null, "We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON.");
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        using (document)
        {
            var body = document.RootElement;
            if (body.ValueKind != JsonValueKind.Object)
            {
                await WriteInvalidRequestAsync(context, 400, null, null, "The request body must be a JSON object.");
                return;
            }
            if (!body.TryGetProperty("model", out var modelElement) || modelElement.ValueKind != JsonValueKind.String || modelElement.GetString() is not { Length: > 0 } deploymentName)
            {
                await WriteInvalidRequestAsync(context, 400, "missing_required_parameter", "model", "Missing required parameter: 'model'.");
                return;
            }
            if (!account.Deployments.TryGetValue(deploymentName, out var deployment))
            {
                await AoaiResponses.WriteDeploymentNotFoundAsync(context);
                return;
            }
            deployment.Stats.OnRequest();
            if (deployment.Options.Kind == DeploymentKind.Embeddings)
            {
                await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "OperationNotSupported",
                    $"The responses operation does not work with the specified model, {deployment.Options.Model}. Please choose different model and try again.");
                return;
            }

            if (!TryParseCreate(body, out var create, out var param, out var error))
            {
                await WriteInvalidRequestAsync(context, 400, "invalid_type", param, error!);
                return;
            }

            var store = account.Responses;
            StoredResponse? previous = null;
            if (create.PreviousResponseId is { } previousId && !store.TryGet(previousId, out previous))
            {
                await WriteInvalidRequestAsync(context, 404, "previous_response_not_found", "previous_response_id", $"Previous response with id '{previousId}' not found.");
                return;
            }
            if (create.Conversation is { } conversation && !store.HasConversation(conversation))
            {
                await WriteInvalidRequestAsync(context, 404, "not_found", "conversation", $"Conversation with id '{conversation}' not found.");
                return;
            }

            using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            try
            {
                await ServeResponseAsync(context, account, deployment, faults, create, previous, cancellation.Token);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
            }
        }
    }

    private async Task ServeResponseAsync(HttpContext context, SimulatedAccount account, SimulatedDeployment deployment, FaultOptions faults,
        ResponseCreate create, StoredResponse? previous, CancellationToken cancellationToken)
    {
        if (await InjectFaultAsync(context, account, deployment, faults, cancellationToken))
        {
            return;
        }
        if (faults.ForceThrottle is { } forced)
        {
            OnThrottled(account, deployment, "ForceThrottle", forced);
            await AoaiResponses.WriteThrottledAsync(context, ResponsesOperationId, forced, new RateLimitDecision(RateLimitKind.Tokens, forced, forced, forced, 0, 0), tokenLimit: true);
            return;
        }

        // The context of a follow-up is the whole previous turn, most of it served from the prompt cache.
        var cached = previous is null ? 0 : previous.InputTokens + previous.OutputTokens;
        var inputTokens = create.PromptTokens + cached;
        var admission = deployment.Limiter.TryAcquire((int)Math.Min(int.MaxValue, inputTokens + (long)(create.MaxOutputTokens ?? deployment.Options.DefaultMaxTokensCharge)));
        if (!admission.Admitted)
        {
            OnThrottled(account, deployment, admission.LimitedBy == RateLimitKind.Tokens ? "Tokens" : "Requests", admission.RetryAfter);
            await AoaiResponses.WriteThrottledAsync(context, ResponsesOperationId, admission.RetryAfter, admission, admission.LimitedBy == RateLimitKind.Tokens);
            return;
        }
        AoaiResponses.WriteRemainingHeaders(context, admission);

        var outputTokens = Math.Clamp(create.MaxOutputTokens ?? InferenceRequest.DefaultCompletionTokens, 1, InferenceRequest.MaxCompletionTokens);
        var options = account.Options;
        var now = account.Time.GetUtcNow();
        var latency = SimulatedLatency.Completion(account.Random, options.LatencyScale, outputTokens);
        var response = new StoredResponse
        {
            Id = ResponseJson.NewResponseId(),
            Deployment = deployment.Name,
            Model = deployment.Options.Model,
            CreatedAt = now.ToUnixTimeSeconds(),
            Text = GeneratedText.Tokens(0, 0, outputTokens),
            InputTokens = inputTokens,
            CachedTokens = cached,
            OutputTokens = outputTokens,
            // A request that asks for reasoning spends part of its output on it, as reasoning models report.
            ReasoningTokens = create.Reasoning ? outputTokens / 2 : 0,
            Instructions = create.Instructions,
            MaxOutputTokens = create.MaxOutputTokens,
            PreviousResponseId = create.PreviousResponseId,
            Conversation = create.Conversation,
            Background = create.Background,
            Store = create.Store,
            Input = create.Input,
            CompletesAtUnixMs = create.Background ? (now + latency).ToUnixTimeMilliseconds() + 1 : 0,
        };
        account.Responses.Add(response, followUp: previous is not null);

        if (create.Background)
        {
            // Queued: the caller polls (GET) or cancels; it completes after its simulated latency.
            await AoaiResponses.WriteJsonAsync(context, (response, now), static (w, s) => ResponseJson.WriteResponse(w, s.response, s.now.ToUnixTimeMilliseconds(), "queued"), cancellationToken);
        }
        else if (create.Stream)
        {
            await StreamResponseAsync(context, account, response, cancellationToken);
        }
        else
        {
            await SimulatedLatency.DelayAsync(latency, account.Time, cancellationToken);
            await AoaiResponses.WriteJsonAsync(context, (response, account), static (w, s) => ResponseJson.WriteResponse(w, s.response, s.account.Time.GetUtcNow().ToUnixTimeMilliseconds()), cancellationToken);
        }
        OnSucceeded(account, deployment, inputTokens, outputTokens);
    }

    /// <summary>The Responses event stream: <c>event:</c> and <c>data:</c> lines, flushed per event, no <c>[DONE]</c>.</summary>
    private static async Task StreamResponseAsync(HttpContext context, SimulatedAccount account, StoredResponse response, CancellationToken cancellationToken)
    {
        var http = context.Response;
        http.ContentType = "text/event-stream; charset=utf-8";
        http.Headers.CacheControl = "no-cache";
        var output = http.BodyWriter;
        var buffer = new ArrayBufferWriter<byte>(1024);
        using var writer = new Utf8JsonWriter(buffer);
        var sequence = 0;

        void WriteEvent(string type, Action<Utf8JsonWriter> write)
        {
            buffer.ResetWrittenCount();
            writer.Reset(buffer);
            writer.WriteStartObject();
            writer.WriteString("type", type);
            writer.WriteNumber("sequence_number", sequence++);
            write(writer);
            writer.WriteEndObject();
            writer.Flush();
            output.Write("event: "u8);
            output.Write(System.Text.Encoding.UTF8.GetBytes(type));
            output.Write("\ndata: "u8);
            output.Write(buffer.WrittenSpan);
            output.Write("\n\n"u8);
        }

        var nowMs = account.Time.GetUtcNow().ToUnixTimeMilliseconds();
        var itemId = ResponseJson.MessageId(response);
        WriteEvent("response.created", w => { w.WritePropertyName("response"); ResponseJson.WriteResponse(w, response, nowMs, "in_progress"); });
        WriteEvent("response.in_progress", w => { w.WritePropertyName("response"); ResponseJson.WriteResponse(w, response, nowMs, "in_progress"); });
        WriteEvent("response.output_item.added", w =>
        {
            w.WriteNumber("output_index", 0);
            w.WritePropertyName("item");
            ResponseJson.WriteMessageItem(w, response, "", "in_progress", withContent: false);
        });
        WriteEvent("response.content_part.added", w =>
        {
            w.WriteString("item_id", itemId);
            w.WriteNumber("output_index", 0);
            w.WriteNumber("content_index", 0);
            w.WritePropertyName("part");
            ResponseJson.WriteTextPart(w, "");
        });
        await output.FlushAsync(cancellationToken);

        var options = account.Options;
        for (var start = 0; start < response.OutputTokens; start += options.TokensPerChunk)
        {
            await SimulatedLatency.DelayAsync(SimulatedLatency.StreamChunk(account.Random, options.LatencyScale, options.StreamChunkInterval), account.Time, cancellationToken);
            var count = Math.Min(options.TokensPerChunk, response.OutputTokens - start);
            var delta = GeneratedText.Tokens(0, start, count); // leading space included after the first token
            WriteEvent("response.output_text.delta", w =>
            {
                w.WriteString("item_id", itemId);
                w.WriteNumber("output_index", 0);
                w.WriteNumber("content_index", 0);
                w.WriteString("delta", delta);
            });
            await output.FlushAsync(cancellationToken);
        }

        WriteEvent("response.output_text.done", w =>
        {
            w.WriteString("item_id", itemId);
            w.WriteNumber("output_index", 0);
            w.WriteNumber("content_index", 0);
            w.WriteString("text", response.Text);
        });
        WriteEvent("response.content_part.done", w =>
        {
            w.WriteString("item_id", itemId);
            w.WriteNumber("output_index", 0);
            w.WriteNumber("content_index", 0);
            w.WritePropertyName("part");
            ResponseJson.WriteTextPart(w, response.Text);
        });
        WriteEvent("response.output_item.done", w =>
        {
            w.WriteNumber("output_index", 0);
            w.WritePropertyName("item");
            ResponseJson.WriteMessageItem(w, response, response.Text, "completed");
        });
        nowMs = account.Time.GetUtcNow().ToUnixTimeMilliseconds();
        WriteEvent("response.completed", w => { w.WritePropertyName("response"); ResponseJson.WriteResponse(w, response, nowMs); });
        await output.FlushAsync(cancellationToken);
    }

    /// <summary><c>GET</c> or <c>DELETE …/responses/{id}</c>.</summary>
    public async Task HandleResponseAsync(HttpContext context)
    {
        var method = context.Request.Method;
        var isDelete = HttpMethods.IsDelete(method);
        if (await AdmitAsync(context, isDelete ? HttpMethods.Delete : HttpMethods.IsGet(method) ? HttpMethods.Get : "GET, DELETE") is not { } account)
        {
            return;
        }
        var id = context.GetRouteValue("id") as string ?? "";
        if (isDelete)
        {
            if (!account.Responses.Remove(id))
            {
                await WriteNotFoundAsync(context, id);
                return;
            }
            await AoaiResponses.WriteJsonAsync(context, id, ResponseJson.WriteDeleted, context.RequestAborted);
            return;
        }
        if (!account.Responses.TryGet(id, out var response))
        {
            await WriteNotFoundAsync(context, id);
            return;
        }
        account.Responses.OnRetrieved();
        await AoaiResponses.WriteJsonAsync(context, (response, account), static (w, s) => ResponseJson.WriteResponse(w, s.response, s.account.Time.GetUtcNow().ToUnixTimeMilliseconds()), context.RequestAborted);
    }

    /// <summary><c>POST …/responses/{id}/cancel</c>: only a background response still running can be cancelled.</summary>
    public async Task HandleCancelResponseAsync(HttpContext context)
    {
        if (await AdmitAsync(context, HttpMethods.Post) is not { } account)
        {
            return;
        }
        var id = context.GetRouteValue("id") as string ?? "";
        if (!account.Responses.TryGet(id, out var response))
        {
            await WriteNotFoundAsync(context, id);
            return;
        }
        var nowMs = account.Time.GetUtcNow().ToUnixTimeMilliseconds();
        if (!response.Background)
        {
            await WriteInvalidRequestAsync(context, 400, null, null, "Only responses created with background=true can be cancelled.");
            return;
        }
        if (response.Status(nowMs) == "completed")
        {
            await WriteInvalidRequestAsync(context, 400, null, null, "Cannot cancel a completed response.");
            return;
        }
        response.Cancelled = true;
        account.Responses.OnCancelled();
        await AoaiResponses.WriteJsonAsync(context, (response, nowMs), static (w, s) => ResponseJson.WriteResponse(w, s.response, s.nowMs), context.RequestAborted);
    }

    /// <summary><c>GET …/responses/{id}/input_items</c>.</summary>
    public async Task HandleInputItemsAsync(HttpContext context)
    {
        if (await AdmitAsync(context, HttpMethods.Get) is not { } account)
        {
            return;
        }
        var id = context.GetRouteValue("id") as string ?? "";
        if (!account.Responses.TryGet(id, out var response))
        {
            await WriteNotFoundAsync(context, id);
            return;
        }
        account.Responses.OnInputItems();
        await AoaiResponses.WriteJsonAsync(context, response, ResponseJson.WriteInputItems, context.RequestAborted);
    }

    /// <summary><c>POST /openai/v1/conversations</c>: a conversation kept in this account (for follow-ups that name it).</summary>
    public async Task HandleCreateConversationAsync(HttpContext context)
    {
        if (await AdmitAsync(context, HttpMethods.Post) is not { } account)
        {
            return;
        }
        var id = ResponseJson.NewItemId("conv");
        account.Responses.AddConversation(id);
        await AoaiResponses.WriteJsonAsync(context, (id, account.Time.GetUtcNow().ToUnixTimeSeconds()), static (w, s) => ResponseJson.WriteConversation(w, s.id, s.Item2), context.RequestAborted);
    }

    private static Task WriteNotFoundAsync(HttpContext context, string id)
        => WriteInvalidRequestAsync(context, 404, "not_found", null, $"Response with id '{id}' not found.");

    /// <summary>The v1 API's error body: <c>{"error":{"message","type":"invalid_request_error","param","code"}}</c>.</summary>
    private static async Task WriteInvalidRequestAsync(HttpContext context, int status, string? code, string? param, string message)
    {
        context.Response.StatusCode = status;
        await AoaiResponses.WriteJsonAsync(context, (code, param, message), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteString("message", s.message);
            w.WriteString("type", "invalid_request_error");
            if (s.param is null) { w.WriteNull("param"); } else { w.WriteString("param", s.param); }
            if (s.code is null) { w.WriteNull("code"); } else { w.WriteString("code", s.code); }
            w.WriteEndObject();
            w.WriteEndObject();
        }, context.RequestAborted);
    }

    /// <summary>What a create asks for.</summary>
    private readonly record struct ResponseCreate(
        int PromptTokens, int? MaxOutputTokens, bool Stream, bool Store, bool Background, bool Reasoning,
        string? Instructions, string? PreviousResponseId, string? Conversation, IReadOnlyList<(string Id, string Role, string Text)> Input);

    private static bool TryParseCreate(JsonElement body, out ResponseCreate create, out string? param, out string? error)
    {
        create = default;
        param = null;
        error = null;
        var input = new List<(string, string, string)>();
        var promptTokens = InferenceRequest.TokensPerReply;
        if (!body.TryGetProperty("input", out var inputElement) || inputElement.ValueKind is JsonValueKind.Null)
        {
            (param, error) = ("input", "Missing required parameter: 'input'.");
            return false;
        }
        if (inputElement.ValueKind == JsonValueKind.String)
        {
            var text = inputElement.GetString()!;
            input.Add((ResponseJson.NewItemId("msg"), "user", text));
            promptTokens += InferenceRequest.TokensPerMessage + TokenCount.Of(text);
        }
        else if (inputElement.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in inputElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object)
                {
                    (param, error) = ("input", "Invalid type for 'input': each item must be an object.");
                    return false;
                }
                var role = item.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "user";
                var text = item.TryGetProperty("content", out var content) ? ContentText(content) : "";
                input.Add((ResponseJson.NewItemId("msg"), role, text));
                promptTokens += InferenceRequest.TokensPerMessage + TokenCount.Of(text);
            }
        }
        else
        {
            (param, error) = ("input", "Invalid type for 'input': expected a string or an array of input items.");
            return false;
        }

        if (RequestChecks.Sampling(body) is { } sampling)
        {
            (error, param) = sampling;
            return false;
        }
        string? instructions = null;
        if (body.TryGetProperty("instructions", out var i) && i.ValueKind != JsonValueKind.Null)
        {
            if (i.ValueKind != JsonValueKind.String)
            {
                (param, error) = ("instructions", "Invalid type for 'instructions': expected a string.");
                return false;
            }
            instructions = i.GetString();
            promptTokens += InferenceRequest.TokensPerMessage + TokenCount.Of(instructions!);
        }
        int? maxOutput = null;
        if (body.TryGetProperty("max_output_tokens", out var m) && m.ValueKind != JsonValueKind.Null)
        {
            if (m.ValueKind != JsonValueKind.Number || !m.TryGetInt32(out var max) || max < 1)
            {
                (param, error) = ("max_output_tokens", "Invalid 'max_output_tokens': expected a positive integer.");
                return false;
            }
            maxOutput = max;
        }
        if (!TryReadBool(body, "stream", false, out var stream) || !TryReadBool(body, "store", true, out var store) || !TryReadBool(body, "background", false, out var background))
        {
            (param, error) = ("stream", "Invalid type for 'stream', 'store' or 'background': expected a boolean.");
            return false;
        }
        string? previous = null;
        if (body.TryGetProperty("previous_response_id", out var p) && p.ValueKind != JsonValueKind.Null)
        {
            if (p.ValueKind != JsonValueKind.String)
            {
                (param, error) = ("previous_response_id", "Invalid type for 'previous_response_id': expected a string.");
                return false;
            }
            previous = p.GetString();
        }
        string? conversation = null;
        if (body.TryGetProperty("conversation", out var c) && c.ValueKind != JsonValueKind.Null)
        {
            conversation = c.ValueKind == JsonValueKind.String ? c.GetString()
                : c.ValueKind == JsonValueKind.Object && c.TryGetProperty("id", out var cid) && cid.ValueKind == JsonValueKind.String ? cid.GetString()
                : null;
            if (conversation is null)
            {
                (param, error) = ("conversation", "Invalid type for 'conversation': expected a string or an object with 'id'.");
                return false;
            }
        }
        if (previous is not null && conversation is not null)
        {
            (param, error) = ("previous_response_id", "'previous_response_id' and 'conversation' cannot be used together.");
            return false;
        }
        if (background && !store)
        {
            (param, error) = ("background", "Background responses must be stored (store=true).");
            return false;
        }
        var reasoning = body.TryGetProperty("reasoning", out var reasoningElement) && reasoningElement.ValueKind == JsonValueKind.Object;
        create = new ResponseCreate(promptTokens, maxOutput, stream && !background, store, background, reasoning, instructions, previous, conversation, input);
        return true;
    }

    private static bool TryReadBool(JsonElement body, string name, bool absent, out bool value)
    {
        value = absent;
        if (!body.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }
        if (element.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            return false;
        }
        value = element.ValueKind == JsonValueKind.True;
        return true;
    }

    /// <summary>The text of an item's content: a string, or the <c>text</c> of its parts.</summary>
    private static string ContentText(JsonElement content)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }
        if (content.ValueKind != JsonValueKind.Array)
        {
            return "";
        }
        var parts = new List<string>();
        foreach (var part in content.EnumerateArray())
        {
            if (part.ValueKind == JsonValueKind.Object && part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
            {
                parts.Add(text.GetString()!);
            }
        }
        return string.Join("\n", parts);
    }
}
