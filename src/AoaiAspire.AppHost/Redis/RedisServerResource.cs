using Aspire.Hosting.ApplicationModel;

namespace AoaiAspire.AppHost.Redis;

/// <summary>
/// Debian's <c>redis-server</c> run as a process by the orchestrator, for machines with no healthy container runtime.
/// It exposes the same connection string as <c>AddRedis</c> (<c>host:port,password=…</c>), so the services cannot
/// tell the two apart. The password reaches redis-server only through a 0600 configuration file written just before
/// start (<see cref="ConfigFile"/>), never through the command line, which the orchestrator shows and logs.
/// </summary>
internal sealed class RedisServerResource(string name, string command, string workingDirectory, ParameterResource password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    private EndpointReference? _endpoint;

    public ParameterResource Password { get; } = password;

    /// <summary>The configuration file holding <c>requirepass</c>; written before each start, deleted once Redis is healthy.</summary>
    public string ConfigFile => Path.Combine(WorkingDirectory, "redis.conf");

    public EndpointReference Endpoint => _endpoint ??= new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{Endpoint.Property(EndpointProperty.HostAndPort)},password={Password}");
}
