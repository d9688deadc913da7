using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace DungeonMaster.Client;

/// <summary>Adds the gateway API key to every call (works over plaintext and TLS alike).</summary>
public sealed class ApiKeyInterceptor(IOptions<GatewayOptions> options) : Interceptor
{
    private readonly string _header = $"Bearer {options.Value.ApiKey}";

    private ClientInterceptorContext<TRequest, TResponse> WithKey<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class where TResponse : class
    {
        var headers = context.Options.Headers ?? new Metadata();
        headers.Add("authorization", _header);
        return new ClientInterceptorContext<TRequest, TResponse>(
            context.Method, context.Host, context.Options.WithHeaders(headers));
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context,
        AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        => continuation(request, WithKey(context));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context,
        AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
        => continuation(request, WithKey(context));

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context,
        AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
        => continuation(WithKey(context));
}

/// <summary>Where the gateway is and which key to present (appsettings "Gateway" section or env Gateway__*).</summary>
public sealed class GatewayOptions
{
    public string Address { get; set; } = "http://127.0.0.1:50050";
    public string ApiKey { get; set; } = "";
    public int TurnDeadlineSeconds { get; set; } = 120;
}
