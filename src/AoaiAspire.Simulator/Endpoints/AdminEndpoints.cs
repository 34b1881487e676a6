using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using AoaiAspire.Simulator.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Simulator.Endpoints;

/// <summary>
/// <c>/admin/*</c>: counters, faults and reset of the account on the listener the call arrives on.
/// No authentication (a test and demo tool bound to loopback); never counted in the stats, never faulted.
/// </summary>
internal sealed class AdminEndpoints(AccountDirectory accounts, ILogger logger)
{
    /// <summary><c>GET /admin/stats</c>: account counters, then per deployment.</summary>
    public Task GetStatsAsync(HttpContext context)
        => WithAccount(context, account => AoaiResponses.WriteJsonAsync(context, account, WriteStats, context.RequestAborted));

    /// <summary><c>GET /admin/faults</c>: the faults in force.</summary>
    public Task GetFaultsAsync(HttpContext context)
        => WithAccount(context, account => WriteFaultsAsync(context, account.Faults));

    /// <summary><c>PUT /admin/faults</c>: replaces the faults with the body (a <see cref="FaultOptions"/>; absent members take their defaults).</summary>
    public Task PutFaultsAsync(HttpContext context) => WithAccount(context, async account =>
    {
        FaultOptions? faults;
        try
        {
            faults = await JsonSerializer.DeserializeAsync(context.Request.Body, SimulatorJsonContext.Default.FaultOptions, context.RequestAborted);
        }
        catch (JsonException ex)
        {
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "BadRequest", $"The body is not a FaultOptions object: {ex.Message}");
            return;
        }

        if (faults is null)
        {
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "BadRequest", "The body is not a FaultOptions object.");
            return;
        }

        var errors = SimulatorOptionsValidator.ValidateFaults(faults, "faults");
        if (errors.Count > 0)
        {
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "BadRequest", string.Join(" ", errors));
            return;
        }

        account.Faults = faults;
        SimulatorLog.FaultsReplaced(logger, account.Name);
        await WriteFaultsAsync(context, faults);
    });

    /// <summary><c>POST /admin/reset</c>: clears the counters and the rate-limit windows.</summary>
    public Task ResetAsync(HttpContext context) => WithAccount(context, account =>
    {
        account.Reset();
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    });

    private async Task WithAccount(HttpContext context, Func<SimulatedAccount, Task> action)
    {
        var account = accounts.Resolve(context);
        if (account is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        await action(account);
    }

    private static async Task WriteFaultsAsync(HttpContext context, FaultOptions faults)
    {
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, faults, SimulatorJsonContext.Default.FaultOptions, context.RequestAborted);
    }

    private static void WriteStats(Utf8JsonWriter writer, SimulatedAccount account)
    {
        writer.WriteStartObject();
        writer.WriteString("name", account.Name);
        writer.WriteString("region", account.Region);
        WriteCounters(writer, account.Stats);
        var realtime = account.Realtime;
        writer.WriteStartObject("realtime");
        writer.WriteNumber("sessions", realtime.Sessions);
        writer.WriteNumber("openSessions", realtime.OpenSessions);
        writer.WriteNumber("messagesReceived", realtime.MessagesReceived);
        writer.WriteNumber("messagesSent", realtime.MessagesSent);
        writer.WriteNumber("responses", realtime.Responses);
        writer.WriteNumber("inputTokens", realtime.InputTokens);
        writer.WriteNumber("outputTokens", realtime.OutputTokens);
        writer.WriteEndObject();
        account.Responses.WriteStats(writer);
        writer.WriteStartObject("deployments");
        foreach (var deployment in account.Deployments.Values)
        {
            writer.WriteStartObject(deployment.Name);
            writer.WriteString("model", deployment.Options.Model);
            writer.WriteNumber("tokensPerMinute", deployment.Limiter.TokensPerMinute);
            writer.WriteNumber("requestsPerMinute", deployment.Limiter.RequestsPerMinute);
            WriteCounters(writer, deployment.Stats);
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteCounters(Utf8JsonWriter writer, SimulatorStats stats)
    {
        writer.WriteNumber("requests", stats.Requests);
        writer.WriteNumber("succeeded", stats.Succeeded);
        writer.WriteNumber("throttled", stats.Throttled);
        writer.WriteNumber("failed", stats.Failed);
        writer.WriteNumber("promptTokens", stats.PromptTokens);
        writer.WriteNumber("completionTokens", stats.CompletionTokens);
    }
}
