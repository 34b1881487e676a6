using System.Collections.Concurrent;

namespace AoaiAspire.Gateway.Tokens;

/// <summary>Requests and tokens counted per backend, logical deployment and consumer since start.</summary>
internal sealed class UsageLedger
{
    private readonly ConcurrentDictionary<UsageKey, UsageCounters> _counters = new();

    public readonly record struct UsageKey(string Backend, string Deployment, string Consumer);

    internal sealed class UsageCounters
    {
        private long _requests, _promptTokens, _completionTokens, _estimatedOnly, _cachedTokens, _reasoningTokens;
        public long Requests => Interlocked.Read(ref _requests);
        public long PromptTokens => Interlocked.Read(ref _promptTokens);
        public long CompletionTokens => Interlocked.Read(ref _completionTokens);

        /// <summary>Prompt tokens the backend served from its cache (part of <see cref="PromptTokens"/>).</summary>
        public long CachedTokens => Interlocked.Read(ref _cachedTokens);

        /// <summary>Completion tokens spent on reasoning (part of <see cref="CompletionTokens"/>).</summary>
        public long ReasoningTokens => Interlocked.Read(ref _reasoningTokens);

        /// <summary>Requests whose usage was neither reported nor counted by the gateway (recorded with the estimate's prompt part).</summary>
        public long EstimatedOnly => Interlocked.Read(ref _estimatedOnly);

        public void Add(Usage usage, bool estimated)
        {
            Interlocked.Increment(ref _requests);
            Interlocked.Add(ref _promptTokens, usage.PromptTokens);
            Interlocked.Add(ref _completionTokens, usage.CompletionTokens);
            if (usage.CachedTokens != 0)
            {
                Interlocked.Add(ref _cachedTokens, usage.CachedTokens);
            }
            if (usage.ReasoningTokens != 0)
            {
                Interlocked.Add(ref _reasoningTokens, usage.ReasoningTokens);
            }
            if (estimated)
            {
                Interlocked.Increment(ref _estimatedOnly);
            }
        }
    }

    public void Record(string backend, string deployment, string consumer, Usage usage, bool estimated)
        => _counters.GetOrAdd(new UsageKey(backend, deployment, consumer), static _ => new UsageCounters()).Add(usage, estimated);

    public IEnumerable<KeyValuePair<UsageKey, UsageCounters>> Snapshot() => _counters;

    public (long Prompt, long Completion) Totals(Func<UsageKey, bool> filter)
    {
        long prompt = 0, completion = 0;
        foreach (var (key, counters) in _counters)
        {
            if (filter(key))
            {
                prompt += counters.PromptTokens;
                completion += counters.CompletionTokens;
            }
        }
        return (prompt, completion);
    }
}
