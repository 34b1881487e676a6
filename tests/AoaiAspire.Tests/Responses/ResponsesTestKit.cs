using System.ClientModel;
using AoaiAspire.Gateway.Affinity;
using AoaiAspire.Simulator;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Responses;

namespace AoaiAspire.Tests.Responses;

#pragma warning disable OPENAI001 // the SDK marks its Responses client experimental

/// <summary>Three simulated regions behind two gateway replicas that share a real redis-server.</summary>
internal sealed class ResponsesTestKit : IAsyncDisposable
{
    /// <summary>The logical deployment the tests call: each backend serves it as its own <c>chat</c> (so the gateway rewrites <c>model</c>).</summary>
    public const string Model = "assistant";
    public const string Key = "responses-caller-key-1";
    public const string OtherKey = "responses-other-key-2";

    private ResponsesTestKit(SimulatorHost sims, GatewayTestHost a, GatewayTestHost b, LogCapture logs)
        => (Sims, A, B, Logs) = (sims, a, b, logs);

    public SimulatorHost Sims { get; }
    public GatewayTestHost A { get; }
    public GatewayTestHost B { get; }
    public LogCapture Logs { get; }

    public static async Task<ResponsesTestKit> StartAsync(string? redis, IDictionary<string, string?>? extra = null)
    {
        var sims = await SimulatorHost.StartAsync([Simulators.Account("eastus"), Simulators.Account("eastus2"), Simulators.Account("westus")]);
        var settings = Simulators.GatewaySettings(sims, 1, 1, 1);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:app:Keys:0"] = Key;
        settings["Gateway:Consumers:other:Keys:0"] = OtherKey;
        foreach (var account in sims.Accounts)
        {
            settings[$"Gateway:Backends:{account.Name}:Deployments:{Model}"] = "chat";
        }
        if (redis is not null)
        {
            settings["ConnectionStrings:redis"] = redis;
        }
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        var logs = new LogCapture();
        var a = await GatewayTestHost.StartAsync(settings, logs: logs);
        var b = await GatewayTestHost.StartAsync(settings, logs: logs);
        return new ResponsesTestKit(sims, a, b, logs);
    }

    public static ResponsesClient Client(GatewayTestHost gateway, string key = Key)
        => new(new ApiKeyCredential(key), new ResponsesClientOptions { Endpoint = new Uri(gateway.Address, "/openai/v1/"), NetworkTimeout = TimeSpan.FromSeconds(60) });

    /// <summary>The account that stores <paramref name="responseId"/> (exactly one must).</summary>
    public SimulatedAccount OwnerOf(string responseId) => Sims.Accounts.Single(a => a.Responses.Contains(responseId));

    public IEnumerable<SimulatedAccount> Others(SimulatedAccount owner) => Sims.Accounts.Where(a => a != owner);

    /// <summary>Waits until <paramref name="gateway"/> knows who owns <paramref name="id"/> (Redis has told it).</summary>
    public static Task KnowsAsync(GatewayTestHost gateway, string id)
    {
        var directory = gateway.Services.GetRequiredService<AffinityDirectory>();
        return Wait.UntilAsync(() => directory.TryGetOwner(id.AsSpan(), out _), because: $"the replica learns the owner of {id}");
    }

    public async ValueTask DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
        await Sims.DisposeAsync();
    }
}
