namespace AoaiAspire.Gateway.Affinity;

/// <summary>The Redis names of stateful affinity (listed in README "Shared state").</summary>
internal static class AffinityNames
{
    /// <summary>Channel on which replicas tell each other about owners recorded and objects deleted.</summary>
    public const string Channel = "aoai:affinity";

    /// <summary>The stored owner of one object, with the object's lifetime as its TTL.</summary>
    public static string Key(string id) => "aoai:affinity:" + id;
}
