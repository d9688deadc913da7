// A minimal ASP.NET Core front end for the Dungeon Master mesh: it talks only to the gateway, over gRPC, with
// client stubs generated from protos/ by Grpc.Tools. POST /campaigns/{id}/turns plays a turn and streams it to
// the browser as server-sent events, one event per PlayTurnResponse. GET /campaigns/{id}/watch follows the
// campaign live (every player's turn) as server-sent events whose ids are the gateway's event ids, so a browser
// EventSource that reconnects (Last-Event-ID) resumes exactly where it left off.
using System.Text.Json;
using DungeonMaster.Client;
using DungeonMaster.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);
builder.Services.Configure<GatewayOptions>(builder.Configuration.GetSection("Gateway"));
builder.Services.AddTransient<ApiKeyInterceptor>();

void Gateway(IServiceProvider sp, Grpc.Net.ClientFactory.GrpcClientFactoryOptions o) =>
    o.Address = new Uri(sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Address);

// One HTTP/2 connection pool per client type, reused by every request (the factory manages lifetimes).
builder.Services.AddGrpcClient<GameMasterService.GameMasterServiceClient>(Gateway).AddInterceptor<ApiKeyInterceptor>();
builder.Services.AddGrpcClient<MemoryService.MemoryServiceClient>(Gateway).AddInterceptor<ApiKeyInterceptor>();

var app = builder.Build();
var json = new JsonFormatter(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

app.MapPost("/campaigns/{campaignId}/turns", async (
    string campaignId,
    TurnInput input,
    GameMasterService.GameMasterServiceClient gm,
    IOptions<GatewayOptions> options,
    HttpContext http) =>
{
    var request = new PlayTurnRequest
    {
        CampaignId = campaignId,
        TurnId = input.TurnId ?? Guid.NewGuid().ToString("N"),
        Input = input.Text,
        Actor = input.Actor ?? "",
        WantImage = input.WantImage,
        Party = new Party(),
        Private = input.Private,
    };
    request.CharacterIds.AddRange(input.CharacterIds ?? []);
    foreach (var member in input.Party ?? [])
        request.Party.Members.Add(new PartyMember { Name = member.Name, Level = member.Level });

    http.Response.ContentType = "text/event-stream";
    try
    {
        // The browser going away cancels the gRPC call, and the gateway cancels everything behind it.
        using var call = gm.PlayTurn(request,
            deadline: DateTime.UtcNow.AddSeconds(options.Value.TurnDeadlineSeconds),
            cancellationToken: http.RequestAborted);
        await foreach (var reply in call.ResponseStream.ReadAllAsync(http.RequestAborted))
        {
            var name = reply.EventCase switch
            {
                PlayTurnResponse.EventOneofCase.Narration => "narration",
                PlayTurnResponse.EventOneofCase.Encounter => "encounter",
                PlayTurnResponse.EventOneofCase.Npc => "npc",
                PlayTurnResponse.EventOneofCase.Item => "item",
                PlayTurnResponse.EventOneofCase.Image => "image",
                PlayTurnResponse.EventOneofCase.StateChange => "state_change",
                PlayTurnResponse.EventOneofCase.Warning => "warning",
                PlayTurnResponse.EventOneofCase.Context => "context",
                PlayTurnResponse.EventOneofCase.Check => "check",
                PlayTurnResponse.EventOneofCase.Combat => "combat",
                PlayTurnResponse.EventOneofCase.Done => "done",
                _ => "other",
            };
            await http.Response.WriteAsync($"event: {name}\ndata: {json.Format(reply)}\n\n", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }
    catch (RpcException e) when (!http.Response.HasStarted || e.StatusCode != StatusCode.Cancelled)
    {
        // Before the first byte the status maps to HTTP; after it, the error is the stream's last event.
        if (!http.Response.HasStarted)
            http.Response.StatusCode = e.StatusCode switch
            {
                StatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
                StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
                StatusCode.InvalidArgument => StatusCodes.Status400BadRequest,
                StatusCode.ResourceExhausted => StatusCodes.Status429TooManyRequests,
                StatusCode.DeadlineExceeded => StatusCodes.Status504GatewayTimeout,
                _ => StatusCodes.Status503ServiceUnavailable,
            };
        var error = JsonSerializer.Serialize(new { code = e.StatusCode.ToString(), message = e.Status.Detail });
        await http.Response.WriteAsync($"event: error\ndata: {error}\n\n");
    }
});

app.MapGet("/campaigns/{campaignId}/watch", async (
    string campaignId,
    string? after,
    GameMasterService.GameMasterServiceClient gm,
    HttpContext http) =>
{
    var request = new WatchCampaignRequest
    {
        CampaignId = campaignId,
        AfterEventId = http.Request.Headers["Last-Event-ID"].FirstOrDefault() ?? after ?? "",
    };
    http.Response.ContentType = "text/event-stream";
    try
    {
        // No deadline: the watch lasts as long as the browser listens; it going away cancels the call.
        using var call = gm.WatchCampaign(request, cancellationToken: http.RequestAborted);
        await foreach (var update in call.ResponseStream.ReadAllAsync(http.RequestAborted))
        {
            var name = update.ItemCase switch
            {
                WatchCampaignResponse.ItemOneofCase.Event => "log",
                WatchCampaignResponse.ItemOneofCase.Live => "live",
                _ => "other",
            };
            await http.Response.WriteAsync(
                $"id: {update.EventId}\nevent: {name}\ndata: {json.Format(update)}\n\n", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }
    catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
    {
        if (!http.Response.HasStarted)
            http.Response.StatusCode = e.StatusCode switch
            {
                StatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
                StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
                StatusCode.InvalidArgument => StatusCodes.Status400BadRequest,
                _ => StatusCodes.Status503ServiceUnavailable,
            };
        var error = JsonSerializer.Serialize(new { code = e.StatusCode.ToString(), message = e.Status.Detail });
        await http.Response.WriteAsync($"event: error\ndata: {error}\n\n");
    }
});

app.MapGet("/status", async (GameMasterService.GameMasterServiceClient gm) =>
    Results.Text(json.Format(await gm.GetStatusAsync(new GetStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(10))),
        "application/json"));

app.Run();

/// <summary>Body of POST /campaigns/{id}/turns.</summary>
public sealed record TurnInput(
    string Text, string? Actor, string? TurnId, bool WantImage, List<MemberInput>? Party,
    bool Private = false, List<string>? CharacterIds = null);

/// <summary>A party member.</summary>
public sealed record MemberInput(string Name, int Level);
